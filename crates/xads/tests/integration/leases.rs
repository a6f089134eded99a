//! Leases that outlive the work (issue 15, items 1 and 2), on two instances sharing the
//! database — and, on PostgreSQL, Redis — as behind a load balancer.
//!
//! Leases are shortened (a few hundred milliseconds instead of 60 s) so that a write can be held
//! at X "past its lease" several times over without a test waiting a minute; the renewal period
//! is a third of the lease as in production. Holding is the fake's `hold` fault (a gate the test
//! opens), so nothing depends on how fast the machine is.

use std::time::Duration as StdDuration;

use reqwest::Method;
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
        // The tests stage crashes and run recovery themselves: an instance's start-up pass,
        // scheduled whenever its task first runs, would race them for the staged intents.
        recovery_at_start: false,
        ..Leases::default()
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

/// Runs `sql` (one `$1` parameter) on the database of `state`.
async fn exec(state: &AppState, sql: &'static str, p1: &str) {
    sqlx::query(sql)
        .bind(p1)
        .execute(state.db.pool())
        .await
        .unwrap();
}

/// An intent's state, holder and entity.
async fn intent_row(state: &AppState, id: &str) -> (String, Option<String>, Option<String>) {
    let row: (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT state, holder, entity_id FROM x_writes WHERE id = $1")
            .bind(id)
            .fetch_one(state.db.pool())
            .await
            .unwrap();
    row
}

/// Every POST that reached X (creates of any kind, media uploads included).
fn all_posts(a: &AccountCtx) -> usize {
    a.app
        .fake
        .state()
        .ledger()
        .iter()
        .filter(|e| e.method == "POST")
        .count()
}

/// For each create kind, one intent crashed after X committed (its holder's lease lapsed) and
/// one still held by a live instance A: recovery on instance B looks up and completes only the
/// lapsed ones — finding X's entity and putting it back in the mirror — sends nothing, and
/// leaves A's alone (B's own execution of A's intent is refused too).
#[tokio::test]
async fn recovery_on_another_instance_takes_over_only_lapsed_intents_of_every_create_kind() {
    use xads::store::x_writes::{self, Intent, WriteState};
    for db in xads::testing::all_backend_urls().await {
        let Some((a, b)) = two_instances(&db, short_leases()).await else {
            continue;
        };
        let state = &a.app.state;
        let tenant = xads::store::tenants::by_api_key(&state.db, &a.key)
            .await
            .unwrap()
            .unwrap();
        // Real creates on A, one per kind, each leaving its intent done and its entity at X.
        let (s, campaign) = a
            .send(Method::POST, "campaigns", Some(json!({"name": "Recovered", "funding_instrument_id": a.fi, "daily_budget_amount_local_micro": 1_000_000})))
            .await;
        assert_eq!(s, 201, "{campaign}");
        let (s, line_item) = a
            .send(Method::POST, "line_items", Some(json!({"campaign_id": campaign["id"], "name": "Recovered LI", "objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS", "placements": ["ALL_ON_TWITTER"], "bid_strategy": "MAX", "bid_amount_local_micro": 1_500_000})))
            .await;
        assert_eq!(s, 201, "{line_item}");
        let lid = line_item["id"].as_str().unwrap().to_owned();
        let (s, tweets) = a
            .send(
                Method::POST,
                "promoted_tweets",
                Some(json!({"line_item_id": lid, "tweet_ids": [a.tweets[0]]})),
            )
            .await;
        assert_eq!(s, 201, "{tweets}");
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(crate::helpers::png())
                .file_name("recovered.png")
                .mime_str("image/png")
                .unwrap(),
        );
        let resp = a
            .app
            .http
            .post(format!("{}{}", a.app.base, a.path("media")))
            .bearer_auth(&a.key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        // Targeting (an experiment's step): sent as its protocol sends it, through the session.
        let criterion = xads_client::models::TargetingCriterionCreate {
            line_item_id: lid.clone(),
            targeting_type: "LOCATION".into(),
            targeting_value: "96683cc9126741d1".into(),
            ..Default::default()
        };
        let session = xads::x::XSession::for_tenant(state, &tenant.id)
            .await
            .unwrap();
        let made = session
            .call(|x| {
                let (account, c) = (a.account.clone(), criterion.clone());
                async move {
                    x.create_targeting_criterion(&account, &c, &xads_client::CallOptions::default())
                        .await
                }
            })
            .await
            .unwrap()
            .data;
        x_writes::record(
            &state.db,
            &Intent {
                id: "xw_targeting".into(),
                tenant_id: tenant.id.clone(),
                account_id: a.account.clone(),
                operation: "create_targeting_criterion".into(),
                request: json!({"x": serde_json::to_value(&criterion).unwrap()}),
                state: WriteState::Pending,
                attempts: 0,
                entity_id: None,
                created_at: state.clock.now(),
            },
            "instance-a",
            StdDuration::from_secs(60),
            state.clock.now(),
        )
        .await
        .unwrap()
        .unwrap();
        x_writes::set_state(
            &state.db,
            "xw_targeting",
            "instance-a",
            WriteState::Done,
            Some(&made.id),
            None,
            state.clock.now(),
        )
        .await
        .unwrap();

        let kinds = [
            "create_campaign",
            "create_line_item",
            "create_promoted_tweets",
            "create_media_library_entry",
            "create_targeting_criterion",
        ];
        let mut lapsed = Vec::new();
        for op in kinds {
            let id: String = sqlx::query_scalar("SELECT id FROM x_writes WHERE operation = $1")
                .bind(op)
                .fetch_one(state.db.pool())
                .await
                .unwrap_or_else(|e| panic!("{db}: one intent of {op}: {e}"));
            let entity: String = sqlx::query_scalar("SELECT entity_id FROM x_writes WHERE id = $1")
                .bind(&id)
                .fetch_one(state.db.pool())
                .await
                .unwrap();
            // The crash: sent, no answer recorded, mirror row gone, holder dead (lease lapsed).
            exec(state, "UPDATE x_writes SET state = 'sent', entity_id = NULL, holder = 'dead-a', lease_until = 0 WHERE id = $1", &id).await;
            exec(state, "DELETE FROM entities WHERE id = $1", &entity).await;
            // The same write, still held by live instance A.
            exec(state, "INSERT INTO x_writes (id, tenant_id, account_id, operation, request, state, attempts, holder, lease_until, created_at, updated_at)
                 SELECT 'live_' || id, tenant_id, account_id, operation, request, state, attempts, 'instance-a', lease_until, created_at, updated_at
                 FROM x_writes WHERE id = $1", &id).await;
            let live_until = b.state.db.now().await.unwrap().timestamp_millis() + 600_000;
            sqlx::query("UPDATE x_writes SET lease_until = $1 WHERE id = $2")
                .bind(live_until)
                .bind(format!("live_{id}"))
                .execute(state.db.pool())
                .await
                .unwrap();
            lapsed.push((id, entity));
        }
        // B cannot execute a write A holds.
        let live = x_writes::get(&b.state.db, &format!("live_{}", lapsed[0].0))
            .await
            .unwrap()
            .unwrap();
        assert!(
            x_writes::record(
                &b.state.db,
                &live,
                "instance-b",
                StdDuration::from_secs(60),
                b.state.clock.now()
            )
            .await
            .unwrap()
            .is_none(),
            "{db}: A's live intent is not B's to execute"
        );

        let posts = all_posts(&a);
        let r = xads::manage::recovery::run(&b.state).await.unwrap();
        assert_eq!((r.found, r.not_found, r.deferred), (5, 0, 0), "{db}: {r:?}");
        assert_eq!(all_posts(&a), posts, "{db}: recovery sends nothing");
        for (op, (id, entity)) in kinds.iter().zip(&lapsed) {
            let (st, _, entity_id) = intent_row(&b.state, id).await;
            assert_eq!(
                (st.as_str(), entity_id.as_deref()),
                ("done", Some(entity.as_str())),
                "{db}: {op}: X's entity found"
            );
            let (st, holder, entity_id) = intent_row(&b.state, &format!("live_{id}")).await;
            assert_eq!(
                (st.as_str(), holder.as_deref(), entity_id),
                ("sent", Some("instance-a"), None),
                "{db}: {op}: A's live intent is left alone"
            );
        }
        // The mirrored kinds are back in the mirror.
        for (rest, id) in [
            ("campaigns", campaign["id"].as_str().unwrap()),
            ("line_items", lid.as_str()),
        ] {
            let (s, _) = a.send(Method::GET, &format!("{rest}/{id}"), None).await;
            assert_eq!(s, 200, "{db}: {rest}/{id} recovered into the mirror");
        }
        let (_, listed) = a
            .send(
                Method::GET,
                &format!("promoted_tweets?line_item_id={lid}"),
                None,
            )
            .await;
        assert_eq!(
            listed["data"].as_array().map(Vec::len),
            Some(1),
            "{db}: {listed}"
        );
        drop(b);
    }
}

/// The connection drops before X answers a create, and X commits it only after the first
/// lookup found nothing: the second lookup, after the pause, finds it — one campaign, one POST.
#[tokio::test]
async fn an_ambiguous_create_looks_again_and_finds_what_x_committed_late() {
    for db in xads::testing::all_backend_urls().await {
        let Some((a, b)) = two_instances(&db, short_leases()).await else {
            continue;
        };
        let campaigns = format!("/12/accounts/{}/campaigns", a.account);
        a.app.fake.state().add_fault(
            FaultRule::new(
                Some("POST"),
                &campaigns,
                FaultKind::CommitLate {
                    gate: "late".into(),
                },
            )
            .times(1),
        );
        let body = json!({"name": "Committed late", "funding_instrument_id": a.fi});
        let create = {
            let (base, body) = (b.base.clone(), body.clone());
            let (http, key, path) = (a.app.http.clone(), a.key.clone(), a.path("campaigns"));
            tokio::spawn(async move {
                let resp = http
                    .post(format!("{base}{path}"))
                    .bearer_auth(key)
                    .header("Idempotency-Key", "late-1")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
            })
        };
        let lookups = |a: &AccountCtx| {
            a.app
                .fake
                .state()
                .ledger()
                .iter()
                .filter(|e| e.method == "GET" && e.path == campaigns && e.status.is_some())
                .count()
        };
        until("the first lookup answered", async || lookups(&a) >= 1).await;
        assert!(
            a.app
                .fake
                .state()
                .campaigns(&a.account)
                .iter()
                .all(|c| c.name != "Committed late"),
            "{db}: not committed before the first lookup"
        );
        a.app.fake.state().open_gate("late");
        let (status, got) = create.await.unwrap();
        assert_eq!(status, 201, "{db}: {got}");
        let at_x: Vec<_> = a
            .app
            .fake
            .state()
            .campaigns(&a.account)
            .into_iter()
            .filter(|c| c.name == "Committed late")
            .collect();
        assert_eq!(at_x.len(), 1, "{db}: exactly one campaign at X");
        assert_eq!(
            got["id"],
            json!(at_x[0].id),
            "{db}: the late commit is the answer"
        );
        assert_eq!(posts_at_x(&a, "campaigns"), 1, "{db}: never re-sent");
        assert_eq!(lookups(&a), 2, "{db}: found by the second lookup");
    }
}

/// Every send is lost and nothing is found at X: the answer says it is unknown whether X created
/// the entity (not that it was not created), the intent stays `unknown` and released, and
/// recovery then looks for it again.
#[tokio::test]
async fn an_unresolved_create_says_it_is_unknown_whether_x_created_it() {
    for db in xads::testing::all_backend_urls().await {
        let leases = Leases {
            recheck_after: StdDuration::from_millis(20),
            ..short_leases()
        };
        let Some((a, b)) = two_instances(&db, leases).await else {
            continue;
        };
        a.app.fake.state().add_fault(
            FaultRule::new(
                Some("POST"),
                &format!("/12/accounts/{}/campaigns", a.account),
                FaultKind::DropBeforeCommit,
            )
            .times(3),
        );
        let body = json!({"name": "Never answered", "funding_instrument_id": a.fi});
        let (status, err, _) = post_campaign(&a, &a.app.base, "lost-1", &body).await;
        assert_eq!(status, 502, "{db}: {err}");
        assert_eq!(err["error"]["code"], "x_unresolved");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("unknown whether X created it"),
            "{message}"
        );
        assert!(!message.contains("not created"), "{message}");
        let id: String =
            sqlx::query_scalar("SELECT id FROM x_writes WHERE operation = 'create_campaign'")
                .fetch_one(a.app.state.db.pool())
                .await
                .unwrap();
        assert_eq!(intent_row(&a.app.state, &id).await.0, "unknown", "{db}");
        // Released: the other instance's recovery looks again at once (and finds nothing).
        let r = xads::manage::recovery::run(&b.state).await.unwrap();
        assert_eq!((r.found, r.not_found), (0, 1), "{db}");
        assert_eq!(intent_row(&a.app.state, &id).await.0, "failed", "{db}");
    }
}
