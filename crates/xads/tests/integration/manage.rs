//! Campaign management against the fake X (PRODUCT.md §4.3–§4.5), on both backends.

use reqwest::Method;
use serde_json::{Value, json};
use xads_fake::{FaultKind, FaultRule};

use crate::helpers::{AccountCtx, TestApp};

fn query(e: &xads_fake::LedgerEntry) -> std::collections::HashMap<String, String> {
    e.query_pairs.iter().cloned().collect()
}

async fn live(db_url: &str) -> AccountCtx {
    AccountCtx::new(db_url, true).await
}

#[tokio::test]
async fn campaign_round_trip_sends_x_exactly_what_it_wants() {
    for db in xads::testing::all_backend_urls().await {
        let c = live(&db).await;
        let (status, created) = c
            .send(
                Method::POST,
                "campaigns",
                Some(json!({"name": "Spring: launch, wave 1", "funding_instrument_id": c.fi,
                    "daily_budget_amount_local_micro": 5_000_000, "total_budget_amount_local_micro": 50_000_000})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["dry_run"], false);
        assert_eq!(created["paused"], false);
        assert_eq!(created["currency"], "USD");
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(!id.starts_with("dry_"));
        let w = c.last_write();
        assert_eq!(
            (w.method.as_str(), w.path.clone()),
            ("POST", format!("/12/accounts/{}/campaigns", c.account))
        );
        let q = query(&w);
        assert_eq!(q["name"], "Spring: launch, wave 1");
        assert_eq!(q["funding_instrument_id"], c.fi);
        assert_eq!(q["daily_budget_amount_local_micro"], "5000000");
        assert_eq!(q["total_budget_amount_local_micro"], "50000000");
        assert_eq!(q["entity_status"], "ACTIVE");
        assert!(
            w.body.is_empty(),
            "parameters go in the query string, not a body"
        );
        // `:` and `,` are percent-encoded in the query string (X's rule for signed requests).
        assert!(
            w.query.contains("Spring%3A%20launch%2C%20wave%201")
                || w.query.contains("Spring%3A+launch%2C+wave+1"),
            "{}",
            w.query
        );
        assert!(w.header("idempotency-key").is_some_and(|k| !k.is_empty()));

        let (status, got) = c.send(Method::GET, &format!("campaigns/{id}"), None).await;
        assert_eq!(
            (status, got["name"].clone()),
            (200, json!("Spring: launch, wave 1"))
        );
        let (_, list) = c.send(Method::GET, "campaigns", None).await;
        assert!(
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["id"] == json!(id))
        );

        for (paused, wire) in [(true, "PAUSED"), (false, "ACTIVE")] {
            let (status, body) = c
                .send(
                    Method::PATCH,
                    &format!("campaigns/{id}"),
                    Some(json!({"paused": paused})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["paused"], paused);
            let w = c.last_write();
            assert_eq!(
                (w.method.as_str(), w.path.clone()),
                ("PUT", format!("/12/accounts/{}/campaigns/{id}", c.account))
            );
            assert_eq!(
                query(&w),
                [("entity_status".to_owned(), wire.to_owned())].into()
            );
            assert!(w.header("idempotency-key").is_some());
            assert!(
                !w.query.contains("paused"),
                "X v12 takes entity_status, never paused"
            );
        }
        let (status, body) = c
            .send(
                Method::PATCH,
                &format!("campaigns/{id}"),
                Some(json!({"name": "Renamed", "daily_budget_amount_local_micro": 7_000_000})),
            )
            .await;
        assert_eq!((status, body["name"].clone()), (200, json!("Renamed")));
        assert_eq!(
            query(&c.last_write())["daily_budget_amount_local_micro"],
            "7000000"
        );

        let (status, body) = c
            .send(Method::DELETE, &format!("campaigns/{id}"), None)
            .await;
        assert_eq!((status, body["deleted"].clone()), (200, json!(true)));
        let w = c.last_write();
        assert_eq!(
            (w.method.as_str(), w.path.clone()),
            (
                "DELETE",
                format!("/12/accounts/{}/campaigns/{id}", c.account)
            )
        );
        assert!(w.header("idempotency-key").is_some());
        assert!(
            c.app
                .fake
                .state()
                .campaigns(&c.account)
                .iter()
                .any(|x| x.id == id && x.deleted)
        );
        assert_eq!(
            c.send(Method::GET, &format!("campaigns/{id}"), None)
                .await
                .0,
            404
        );
    }
}

#[tokio::test]
async fn line_items_and_promoted_tweets_round_trip() {
    let c = live(&xads::testing::sqlite_url()).await;
    let (_, campaign) = c
        .send(Method::POST, "campaigns", Some(json!({"name": "Parent", "funding_instrument_id": c.fi, "daily_budget_amount_local_micro": 1_000_000})))
        .await;
    let cid = campaign["id"].as_str().unwrap().to_owned();
    let (status, li) = c
        .send(
            Method::POST,
            "line_items",
            Some(json!({"campaign_id": cid, "name": "LI 1", "objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
                "placements": ["ALL_ON_TWITTER", "TWITTER_SEARCH"], "bid_strategy": "MAX", "bid_amount_local_micro": 1_500_000, "paused": true})),
        )
        .await;
    assert_eq!(status, 201, "{li}");
    assert_eq!(li["paused"], true);
    let lid = li["id"].as_str().unwrap().to_owned();
    let q = query(&c.last_write());
    assert_eq!(q["campaign_id"], cid);
    assert_eq!(q["placements"], "ALL_ON_TWITTER,TWITTER_SEARCH");
    assert_eq!(q["entity_status"], "PAUSED");
    assert_eq!(q["bid_amount_local_micro"], "1500000");
    // X requires start_time on POST line_items: without one from the dashboard, it starts now.
    let start = chrono::DateTime::parse_from_rfc3339(&q["start_time"]).expect("start_time sent");
    let now = c.app.state.clock.now();
    assert!(
        (now - start.to_utc()).num_seconds().abs() < 60,
        "{start} is not now ({now})"
    );

    let (status, body) = c
        .send(
            Method::PATCH,
            &format!("line_items/{lid}"),
            Some(json!({"paused": false})),
        )
        .await;
    assert_eq!((status, body["paused"].clone()), (200, json!(false)));
    let w = c.last_write();
    assert_eq!(
        (w.method.as_str(), w.path.clone()),
        (
            "PUT",
            format!("/12/accounts/{}/line_items/{lid}", c.account)
        )
    );
    assert_eq!(
        query(&w),
        [("entity_status".to_owned(), "ACTIVE".to_owned())].into()
    );
    // Pause together with a new bid and name: one PUT with exactly those fields.
    let (status, body) = c
        .send(
            Method::PATCH,
            &format!("line_items/{lid}"),
            Some(json!({"paused": true, "bid_amount_local_micro": 2_000_000, "name": "LI 1b"})),
        )
        .await;
    assert_eq!(
        (status, body["paused"].clone(), body["name"].clone()),
        (200, json!(true), json!("LI 1b"))
    );
    let w = c.last_write();
    assert_eq!(w.method, "PUT");
    assert_eq!(
        query(&w),
        [
            ("entity_status".to_owned(), "PAUSED".to_owned()),
            ("bid_amount_local_micro".to_owned(), "2000000".to_owned()),
            ("name".to_owned(), "LI 1b".to_owned()),
        ]
        .into()
    );
    let (_, list) = c
        .send(Method::GET, &format!("line_items?campaign_id={cid}"), None)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // Promoted tweets: attach two tweets.
    let (status, pts) = c
        .send(
            Method::POST,
            "promoted_tweets",
            Some(json!({"line_item_id": lid, "tweet_ids": [c.tweets[0], c.tweets[1]]})),
        )
        .await;
    assert_eq!(status, 201, "{pts}");
    assert_eq!(pts["data"].as_array().unwrap().len(), 2);
    let w = c.last_write();
    assert_eq!(
        query(&w)["tweet_ids"],
        format!("{},{}", c.tweets[0], c.tweets[1])
    );
    let pid = pts["data"][0]["id"].as_str().unwrap().to_owned();

    // Pause: X refuses PUT, so it is a DELETE; resume re-POSTs and X restores the same id.
    let (status, paused) = c
        .send(
            Method::PATCH,
            &format!("promoted_tweets/{pid}"),
            Some(json!({"paused": true})),
        )
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["paused"], true);
    assert_eq!(paused["paused_via"], "delete");
    let writes = c.app.x_writes();
    let n = writes.len();
    assert_eq!(writes[n - 2].method, "PUT");
    assert_eq!(writes[n - 1].method, "DELETE");
    assert_eq!(
        writes[n - 1].path,
        format!("/12/accounts/{}/promoted_tweets/{pid}", c.account)
    );
    let (status, resumed) = c
        .send(
            Method::PATCH,
            &format!("promoted_tweets/{pid}"),
            Some(json!({"paused": false})),
        )
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["paused"], false);
    assert_eq!(resumed["paused_via"], "delete");
    assert_eq!(resumed["id"], json!(pid), "X restores the same id");
    let w = c.last_write();
    assert_eq!(
        (w.method.as_str(), query(&w)["tweet_ids"].clone()),
        ("POST", c.tweets[0].clone())
    );

    let (status, _) = c
        .send(Method::DELETE, &format!("promoted_tweets/{pid}"), None)
        .await;
    assert_eq!(status, 200);
    let w = c.last_write();
    assert_eq!(
        (w.method.as_str(), w.path.clone()),
        (
            "DELETE",
            format!("/12/accounts/{}/promoted_tweets/{pid}", c.account)
        )
    );
    let (status, _) = c
        .send(Method::DELETE, &format!("line_items/{lid}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        c.last_write().path,
        format!("/12/accounts/{}/line_items/{lid}", c.account)
    );
    // Every write carried an Idempotency-Key.
    assert!(
        c.app
            .x_writes()
            .iter()
            .all(|w| w.header("idempotency-key").is_some())
    );
}

#[tokio::test]
async fn dry_run_writes_never_reach_x() {
    for db in xads::testing::all_backend_urls().await {
        let (app, key) = TestApp::dry_run_connected(&db).await;
        let seed = app.fake.state().seed_info();
        let acct = seed.account(&seed.usd_account_id).unwrap().clone();
        let p = |rest: &str| format!("/api/v1/x_ads/accounts/{}/{rest}", acct.id);
        let (status, c) = app
            .send(
                Method::POST,
                &key,
                &p("campaigns"),
                Some(json!({"name": "Dry", "funding_instrument_id": acct.funding_instrument_id})),
            )
            .await;
        assert_eq!(status, 201);
        assert_eq!(c["dry_run"], true);
        let cid = c["id"].as_str().unwrap().to_owned();
        assert!(cid.starts_with("dry_"));
        let (status, li) = app
            .send(Method::POST, &key, &p("line_items"), Some(json!({"campaign_id": cid, "objective": "REACH", "product_type": "PROMOTED_TWEETS", "placements": ["ALL_ON_TWITTER"]})))
            .await;
        assert_eq!((status, li["dry_run"].clone()), (201, json!(true)));
        let lid = li["id"].as_str().unwrap().to_owned();
        let (status, pt) = app
            .send(
                Method::POST,
                &key,
                &p("promoted_tweets"),
                Some(json!({"line_item_id": lid, "tweet_ids": [acct.tweet_ids[0]]})),
            )
            .await;
        assert_eq!((status, pt["dry_run"].clone()), (201, json!(true)));
        let (status, paused) = app
            .send(
                Method::PATCH,
                &key,
                &p(&format!("campaigns/{cid}")),
                Some(json!({"paused": true})),
            )
            .await;
        assert_eq!(
            (status, paused["paused"].clone(), paused["dry_run"].clone()),
            (200, json!(true), json!(true))
        );
        // A real X campaign can be "updated" in dry-run: answered, flagged, not sent.
        let real = &acct.campaign_ids[0];
        let (_, _) = app.get(&key, &p("campaigns?refresh=true")).await;
        let (status, sim) = app
            .send(
                Method::PATCH,
                &key,
                &p(&format!("campaigns/{real}")),
                Some(json!({"paused": true})),
            )
            .await;
        assert_eq!((status, sim["dry_run"].clone()), (200, json!(true)));
        let (status, _) = app
            .send(Method::DELETE, &key, &p(&format!("line_items/{lid}")), None)
            .await;
        assert_eq!(status, 200);
        assert!(
            app.x_writes().is_empty(),
            "dry-run sent a write to X: {:?}",
            app.x_writes()
                .iter()
                .map(|w| (&w.method, &w.path))
                .collect::<Vec<_>>()
        );
        // Lists merge X's entities with the dry-run ones, flagged.
        let (_, list) = app.get(&key, &p("campaigns")).await;
        let data = list["data"].as_array().unwrap();
        assert!(
            data.iter()
                .any(|x| x["id"] == json!(cid) && x["dry_run"] == json!(true))
        );
        assert!(
            data.iter()
                .any(|x| x["id"] == json!(real) && x["dry_run"] == json!(false))
        );
    }
}

#[tokio::test]
async fn a_create_committed_at_x_then_dropped_yields_exactly_one_entity() {
    for db in xads::testing::all_backend_urls().await {
        let c = live(&db).await;
        let path = format!("/12/accounts/{}/campaigns", c.account);
        c.app
            .fake
            .state()
            .add_fault(FaultRule::new(Some("POST"), &path, FaultKind::DropAfterCommit).times(1));
        let (status, body) = c
            .send(Method::POST, "campaigns", Some(json!({"name": "Dropped once", "funding_instrument_id": c.fi, "daily_budget_amount_local_micro": 2_000_000})))
            .await;
        assert_eq!(status, 201, "{body}");
        let at_x: Vec<_> = c
            .app
            .fake
            .state()
            .campaigns(&c.account)
            .into_iter()
            .filter(|x| x.name == "Dropped once")
            .collect();
        assert_eq!(at_x.len(), 1, "exactly one campaign at X");
        assert_eq!(body["id"], json!(at_x[0].id), "the caller gets X's id");
        let posts = c
            .app
            .x_writes()
            .iter()
            .filter(|w| w.method == "POST")
            .count();
        assert_eq!(posts, 1, "reconciliation found it; no second POST");
    }
}

#[tokio::test]
async fn a_write_interrupted_between_send_and_record_is_reconciled_on_retry() {
    let c = live(&xads::testing::sqlite_url()).await;
    let state = &c.app.state;
    let tenant = xads::store::tenants::by_api_key(&state.db, &c.key)
        .await
        .unwrap()
        .unwrap();
    let body = json!({"name": "Crashed", "funding_instrument_id": c.fi, "daily_budget_amount_local_micro": 3_000_000});
    let idem = "crash-test-key-1";
    // The process that crashed had claimed the key, recorded the intent and sent it; X committed.
    let xads::store::idempotency::Claim::Execute(holder) = xads::store::idempotency::claim(
        &state.db,
        &tenant.id,
        idem,
        "unused",
        state.clock.now(),
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap() else {
        panic!("a new key is executed")
    };
    assert!(
        xads::store::idempotency::release(&state.db, &tenant.id, idem, &holder)
            .await
            .unwrap()
    );
    let intent_id =
        xads::manage::exactly_once::intent_id(&tenant.id, Some(idem), "create_campaign");
    let intent = xads::store::x_writes::record(
        &state.db,
        &xads::store::x_writes::Intent {
            id: intent_id.clone(),
            tenant_id: tenant.id.clone(),
            account_id: c.account.clone(),
            operation: "create_campaign".into(),
            request: body.clone(),
            state: xads::store::x_writes::WriteState::Pending,
            attempts: 0,
            entity_id: None,
            created_at: state.clock.now(),
        },
        "crashed",
        std::time::Duration::ZERO,
        state.clock.now(),
    )
    .await
    .unwrap()
    .expect("a new intent is held");
    xads::store::x_writes::set_state(
        &state.db,
        &intent.id,
        "crashed",
        xads::store::x_writes::WriteState::Sent,
        None,
        None,
        state.clock.now(),
    )
    .await
    .unwrap();
    // The crashed holder's lease (zero here) has lapsed by the time the dashboard retries.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let session = xads::x::XSession::for_tenant(state, &tenant.id)
        .await
        .unwrap();
    let account = c.account.clone();
    let fi = c.fi.clone();
    let committed = session
        .call(|x| {
            let (account, fi, key) = (account.clone(), fi.clone(), intent_id.clone());
            async move {
                x.create_campaign(
                    &account,
                    &xads_client::models::CampaignCreate {
                        funding_instrument_id: fi,
                        name: "Crashed".into(),
                        daily_budget_amount_local_micro: Some(3_000_000),
                        entity_status: Some(xads_client::models::EntityStatus::Active),
                        ..Default::default()
                    },
                    &xads_client::CallOptions::idempotency_key(key),
                )
                .await
            }
        })
        .await
        .unwrap()
        .data;

    // The dashboard retries with the same key: nothing is sent again, the entity is recovered.
    let posts_before = c
        .app
        .x_writes()
        .iter()
        .filter(|w| w.method == "POST")
        .count();
    let resp = c
        .app
        .http
        .post(format!("{}{}", c.app.base, c.path("campaigns")))
        .bearer_auth(&c.key)
        .header("Idempotency-Key", idem)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let got: Value = resp.json().await.unwrap();
    assert_eq!(got["id"], json!(committed.id));
    assert_eq!(
        c.app
            .x_writes()
            .iter()
            .filter(|w| w.method == "POST")
            .count(),
        posts_before
    );
    let at_x = c
        .app
        .fake
        .state()
        .campaigns(&c.account)
        .into_iter()
        .filter(|x| x.name == "Crashed")
        .count();
    assert_eq!(at_x, 1);
}

#[tokio::test]
async fn one_idempotency_key_32_times_executes_once() {
    for db in xads::testing::all_backend_urls().await {
        let c = live(&db).await;
        let body = json!({"name": "Concurrent", "funding_instrument_id": c.fi, "daily_budget_amount_local_micro": 1_000_000});
        let url = format!("{}{}", c.app.base, c.path("campaigns"));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let req = c
                .app
                .http
                .post(&url)
                .bearer_auth(&c.key)
                .header("Idempotency-Key", "same-key-32")
                .json(&body);
            tasks.push(tokio::spawn(async move {
                let r = req.send().await.unwrap();
                let replayed = r.headers().get("idempotent-replayed").is_some();
                let status = r.status().as_u16();
                (status, replayed, r.text().await.unwrap())
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let executed: Vec<_> = results.iter().filter(|(s, r, _)| *s == 201 && !r).collect();
        assert_eq!(executed.len(), 1, "{results:?}");
        for (status, replayed, text) in &results {
            assert!(
                *status == 409 || (*status == 201 && (!replayed || text == &executed[0].2)),
                "{status} {text}"
            );
        }
        let posts = c
            .app
            .x_writes()
            .iter()
            .filter(|w| w.method == "POST")
            .count();
        assert_eq!(posts, 1);
        // A replay afterwards is byte-identical and marked.
        let r = c
            .app
            .http
            .post(&url)
            .bearer_auth(&c.key)
            .header("Idempotency-Key", "same-key-32")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["idempotent-replayed"], "true");
        assert_eq!(r.text().await.unwrap(), executed[0].2);
        // Same key, another body: 422, nothing sent.
        let r = c
            .app
            .http
            .post(&url)
            .bearer_auth(&c.key)
            .header("Idempotency-Key", "same-key-32")
            .json(&json!({"name": "Other", "funding_instrument_id": c.fi}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "idempotency_key_reused");
        assert_eq!(
            c.app
                .x_writes()
                .iter()
                .filter(|w| w.method == "POST")
                .count(),
            1
        );
    }
}

#[tokio::test]
async fn invalid_input_is_refused_and_sends_nothing() {
    let c = live(&xads::testing::sqlite_url()).await;
    let fi = c.fi.clone();
    let (_, camp) = c
        .send(
            Method::POST,
            "campaigns",
            Some(json!({"name": "Base", "funding_instrument_id": fi})),
        )
        .await;
    let cid = camp["id"].as_str().unwrap().to_owned();
    c.app.fake.state().clear_ledger();
    let long = "n".repeat(256);
    let cases: Vec<(&str, Method, String, Value)> = vec![
        (
            "empty name",
            Method::POST,
            "campaigns".into(),
            json!({"name": "", "funding_instrument_id": fi}),
        ),
        (
            "long name",
            Method::POST,
            "campaigns".into(),
            json!({"name": long, "funding_instrument_id": fi}),
        ),
        (
            "negative budget",
            Method::POST,
            "campaigns".into(),
            json!({"name": "a", "funding_instrument_id": fi, "daily_budget_amount_local_micro": -5}),
        ),
        (
            "daily > total",
            Method::POST,
            "campaigns".into(),
            json!({"name": "a", "funding_instrument_id": fi, "daily_budget_amount_local_micro": 9, "total_budget_amount_local_micro": 8}),
        ),
        (
            "bad fi id",
            Method::POST,
            "campaigns".into(),
            json!({"name": "a", "funding_instrument_id": "x y"}),
        ),
        (
            "unknown field",
            Method::POST,
            "campaigns".into(),
            json!({"name": "a", "funding_instrument_id": fi, "status": "ON"}),
        ),
        (
            "overflowing money",
            Method::POST,
            "campaigns".into(),
            json!({"name": "a", "funding_instrument_id": fi, "daily_budget_amount_local_micro": 1e300}),
        ),
        (
            "wrong type",
            Method::POST,
            "campaigns".into(),
            json!({"name": 5, "funding_instrument_id": fi}),
        ),
        (
            "bad objective",
            Method::POST,
            "line_items".into(),
            json!({"campaign_id": cid, "objective": "WIN", "product_type": "PROMOTED_TWEETS", "placements": ["ALL_ON_TWITTER"]}),
        ),
        (
            "bad product type",
            Method::POST,
            "line_items".into(),
            json!({"campaign_id": cid, "objective": "REACH", "product_type": "TV", "placements": ["ALL_ON_TWITTER"]}),
        ),
        (
            "bad placement",
            Method::POST,
            "line_items".into(),
            json!({"campaign_id": cid, "objective": "REACH", "product_type": "PROMOTED_TWEETS", "placements": ["MOON"]}),
        ),
        (
            "no placement",
            Method::POST,
            "line_items".into(),
            json!({"campaign_id": cid, "objective": "REACH", "product_type": "PROMOTED_TWEETS", "placements": []}),
        ),
        (
            "unknown campaign",
            Method::POST,
            "line_items".into(),
            json!({"campaign_id": "zzzzz", "objective": "REACH", "product_type": "PROMOTED_TWEETS", "placements": ["ALL_ON_TWITTER"]}),
        ),
        (
            "51 tweets",
            Method::POST,
            "promoted_tweets".into(),
            json!({"line_item_id": "abc", "tweet_ids": (0..51).map(|i| (1000 + i).to_string()).collect::<Vec<_>>()}),
        ),
        (
            "bad tweet id",
            Method::POST,
            "promoted_tweets".into(),
            json!({"line_item_id": "abc", "tweet_ids": ["12x"]}),
        ),
        (
            "empty patch",
            Method::PATCH,
            format!("campaigns/{cid}"),
            json!({}),
        ),
        (
            "patch daily > total",
            Method::PATCH,
            format!("campaigns/{cid}"),
            json!({"daily_budget_amount_local_micro": 10, "total_budget_amount_local_micro": 5}),
        ),
        (
            "paused not bool",
            Method::PATCH,
            format!("campaigns/{cid}"),
            json!({"paused": "yes"}),
        ),
    ];
    for (what, method, rest, body) in cases {
        let (status, resp) = c.send(method, &rest, Some(body)).await;
        assert!((400..500).contains(&status), "{what}: {status} {resp}");
        assert!(
            resp["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {resp}"
        );
    }
    // Malformed JSON and a missing body.
    let r = c
        .app
        .http
        .post(format!("{}{}", c.app.base, c.path("campaigns")))
        .bearer_auth(&c.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Bad ids in paths: 404, not 500.
    assert_eq!(c.send(Method::GET, "campaigns/..%2F..", None).await.0, 404);
    assert_eq!(
        c.send(
            Method::PATCH,
            "campaigns/nope-nope",
            Some(json!({"paused": true}))
        )
        .await
        .0,
        404
    );
    assert!(c.app.x_writes().is_empty(), "nothing reached X");
    let (_, list) = c.send(Method::GET, "campaigns", None).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["name"] != json!("a"))
    );
}

#[tokio::test]
async fn x_validation_errors_reach_the_caller_with_code_and_parameter() {
    let c = live(&xads::testing::sqlite_url()).await;
    let (status, body) = c
        .send(
            Method::POST,
            "campaigns",
            Some(json!({"name": "Unknown FI", "funding_instrument_id": "zzzzzz"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "x_rejected");
    let x = &body["error"]["x_errors"][0];
    assert!(x["code"].as_str().is_some(), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("X Ads create_campaign: 4")
    );
}

#[tokio::test]
async fn another_tenants_account_and_ids_answer_404() {
    let c = live(&xads::testing::sqlite_url()).await;
    let (_, camp) = c
        .send(
            Method::POST,
            "campaigns",
            Some(json!({"name": "Mine", "funding_instrument_id": c.fi})),
        )
        .await;
    let cid = camp["id"].as_str().unwrap().to_owned();
    let other = c.app.tenant("Other").await;
    for (method, rest, body) in [
        (Method::GET, "campaigns".to_owned(), None),
        (
            Method::POST,
            "campaigns".to_owned(),
            Some(json!({"name": "x", "funding_instrument_id": c.fi})),
        ),
        (Method::GET, format!("campaigns/{cid}"), None),
        (
            Method::PATCH,
            format!("campaigns/{cid}"),
            Some(json!({"paused": true})),
        ),
        (Method::DELETE, format!("campaigns/{cid}"), None),
        (Method::GET, "line_items".to_owned(), None),
        (Method::GET, "promoted_tweets".to_owned(), None),
    ] {
        let (status, _) = c
            .app
            .send(method.clone(), &other, &c.path(&rest), body)
            .await;
        assert_eq!(status, 404, "{method} {rest}");
    }
    let (status, got) = c.send(Method::GET, &format!("campaigns/{cid}"), None).await;
    assert_eq!((status, got["paused"].clone()), (200, json!(false)));
}

#[tokio::test]
async fn writes_left_open_by_a_crash_are_reconciled_at_start() {
    let c = live(&xads::testing::sqlite_url()).await;
    let state = &c.app.state;
    let tenant = xads::store::tenants::by_api_key(&state.db, &c.key)
        .await
        .unwrap()
        .unwrap();
    let open = |id: &str, name: &str| xads::store::x_writes::Intent {
        id: id.to_owned(),
        tenant_id: tenant.id.clone(),
        account_id: c.account.clone(),
        operation: "create_campaign".into(),
        request: json!({"name": name, "funding_instrument_id": c.fi}),
        state: xads::store::x_writes::WriteState::Pending,
        attempts: 0,
        entity_id: None,
        created_at: state.clock.now(),
    };
    // One create reached X before the crash, the other did not.
    for (id, name) in [
        ("xw_crashed_after_send", "Made before the crash"),
        ("xw_crashed_before_send", "Never sent"),
    ] {
        xads::store::x_writes::record(
            &state.db,
            &open(id, name),
            "crashed",
            std::time::Duration::from_secs(60),
            state.clock.now(),
        )
        .await
        .unwrap()
        .expect("a new intent is held");
        xads::store::x_writes::set_state(
            &state.db,
            id,
            "crashed",
            xads::store::x_writes::WriteState::Sent,
            None,
            None,
            state.clock.now(),
        )
        .await
        .unwrap();
    }
    let (status, made) = c
        .send(
            Method::POST,
            "campaigns",
            Some(json!({"name": "Made before the crash", "funding_instrument_id": c.fi})),
        )
        .await;
    assert_eq!(status, 201);
    // The real request above recorded its own entity; forget it, as the crashed process would have.
    sqlx::query("DELETE FROM entities WHERE id = $1")
        .bind(made["id"].as_str().unwrap())
        .execute(state.db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM x_writes WHERE entity_id = $1")
        .bind(made["id"].as_str().unwrap())
        .execute(state.db.pool())
        .await
        .unwrap();

    // Intents whose holder's lease runs are left alone (another instance may be mid-write).
    assert_eq!(
        xads::manage::recovery::run(state).await.unwrap(),
        Default::default()
    );
    // The crashed holder stops renewing: its leases lapse (played by ending them now).
    sqlx::query("UPDATE x_writes SET lease_until = 0 WHERE holder = 'crashed'")
        .execute(state.db.pool())
        .await
        .unwrap();
    let r = xads::manage::recovery::run(state).await.unwrap();
    assert_eq!((r.found, r.not_found, r.deferred), (1, 1, 0));
    let done = xads::store::x_writes::get(&state.db, "xw_crashed_after_send")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, xads::store::x_writes::WriteState::Done);
    assert_eq!(done.entity_id.as_deref(), made["id"].as_str());
    let failed = xads::store::x_writes::get(&state.db, "xw_crashed_before_send")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.state, xads::store::x_writes::WriteState::Failed);
    let (status, _) = c
        .send(
            Method::GET,
            &format!("campaigns/{}", made["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200, "the recovered campaign is back in the mirror");
    // Nothing was sent to X by recovery.
    assert_eq!(
        c.app
            .x_writes()
            .iter()
            .filter(|w| w.method == "POST")
            .count(),
        1
    );
}
