//! Security sweeps (quality.md, security): no secret in the logs of a whole scenario; every
//! `/api/v1` route with another tenant's ids answers 404 with nothing read or changed; every write
//! route refuses bad input with a 4xx and a message, never a 5xx, with nothing written.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;
use sqlx::Row;

use crate::helpers::{TestApp, png, secrets_seen};

/// Every `/api/v1` operation: from the OpenAPI document, plus the routes known here in case the
/// document lags behind the router.
fn operations() -> Vec<(Method, String)> {
    let mut ops: Vec<(Method, String)> = Vec::new();
    let doc = xads::web::openapi::document();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for m in ["get", "post", "put", "patch", "delete"] {
                if item.get(m).is_some() {
                    ops.push((m.to_uppercase().parse().unwrap(), path.clone()));
                }
            }
        }
    }
    let a = "/api/v1/x_ads/accounts/{account_id}";
    let known = [
        ("GET", "/api/v1/integrations".to_owned()),
        ("POST", "/api/v1/integrations/x_ads/connect".into()),
        ("DELETE", "/api/v1/integrations/x_ads".into()),
        ("POST", "/api/v1/integrations/x_ads/webhooks".into()),
        ("GET", "/api/v1/x_ads/accounts".into()),
        ("GET", format!("{a}/campaigns")),
        ("POST", format!("{a}/campaigns")),
        ("GET", format!("{a}/campaigns/{{id}}")),
        ("PATCH", format!("{a}/campaigns/{{id}}")),
        ("DELETE", format!("{a}/campaigns/{{id}}")),
        ("GET", format!("{a}/line_items")),
        ("POST", format!("{a}/line_items")),
        ("GET", format!("{a}/line_items/{{id}}")),
        ("PATCH", format!("{a}/line_items/{{id}}")),
        ("DELETE", format!("{a}/line_items/{{id}}")),
        ("GET", format!("{a}/promoted_tweets")),
        ("POST", format!("{a}/promoted_tweets")),
        ("PATCH", format!("{a}/promoted_tweets/{{id}}")),
        ("DELETE", format!("{a}/promoted_tweets/{{id}}")),
        ("GET", format!("{a}/media")),
        ("POST", format!("{a}/media")),
        ("DELETE", format!("{a}/media/{{id}}")),
        ("GET", format!("{a}/stats")),
        ("POST", format!("{a}/stats/sync")),
        ("GET", format!("{a}/stats/sync/{{sync_id}}")),
        ("GET", format!("{a}/experiments")),
        ("POST", format!("{a}/experiments")),
        ("GET", format!("{a}/experiments/{{id}}")),
        ("GET", format!("{a}/experiments/{{id}}/results")),
        ("POST", format!("{a}/experiments/{{id}}/{{action}}")),
        ("GET", "/api/v1/fx_rates".into()),
        ("POST", "/api/v1/fx_rates".into()),
    ];
    for (m, p) in known {
        let m: Method = m.parse().unwrap();
        if !ops.iter().any(|(om, op)| *om == m && *op == p) {
            ops.push((m, p));
        }
    }
    ops
}

#[tokio::test]
async fn a_whole_scenario_leaves_no_secret_in_the_logs() {
    let (app, key) = TestApp::live_connected(&xads::testing::sqlite_url()).await;
    let seed = app.fake.state().seed_info();
    let acct = seed.account(&seed.usd_account_id).unwrap().clone();
    let a = format!("/api/v1/x_ads/accounts/{}", acct.id);
    // Writes.
    let (status, c) = app
        .send(
            Method::POST,
            &key,
            &format!("{a}/campaigns"),
            Some(
                json!({"name": "Secrets", "funding_instrument_id": acct.funding_instrument_id,
                "daily_budget_amount_local_micro": 1_000_000}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let (status, _) = app
        .send(
            Method::PATCH,
            &key,
            &format!("{a}/campaigns/{}", c["id"].as_str().unwrap()),
            Some(json!({"paused": true})),
        )
        .await;
    assert_eq!(status, 200);
    // A refresh.
    app.state.clock.advance(chrono::Duration::hours(3));
    let (status, _) = app.get(&key, "/api/v1/x_ads/accounts?refresh=true").await;
    assert_eq!(status, 200);
    // A sync.
    let (status, run) = app
        .send(
            Method::POST,
            &key,
            &format!("{a}/stats/sync?wait=true"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    // Media.
    let form = Form::new().text("name", "Logo").part(
        "file",
        Part::bytes(png())
            .file_name("logo.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let resp = app
        .http
        .post(format!("{}{a}/media", app.base))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    // Disconnect.
    let (status, _) = app
        .send(Method::DELETE, &key, "/api/v1/integrations/x_ads", None)
        .await;
    assert!(status < 300, "{status}");

    let logs = crate::captured_logs();
    assert!(logs.contains("xads listening"), "logs were captured");
    let mut secrets = secrets_seen(&app.fake);
    assert!(
        secrets.len() > 3,
        "the scenario used tokens, a code and a verifier"
    );
    secrets.push(key.clone());
    secrets.push("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into());
    for s in &secrets {
        assert!(
            !logs.contains(s.as_str()),
            "a secret ({} chars) reached the logs",
            s.len()
        );
    }
}

/// Two tenants on different X users; tenant A has entities everywhere.
struct Two {
    app: TestApp,
    a: String,
    b: String,
    account: String,
    campaign: String,
    line_item: String,
    promoted_tweet: String,
    media: String,
    sync_id: String,
    fi: String,
    tweet: String,
}

async fn two_tenants(db: &str) -> Two {
    let (app, a) = TestApp::live_connected(db).await;
    let seed = app.fake.state().seed_info();
    let acct = seed.account(&seed.usd_account_id).unwrap().clone();
    let b = app.tenant("Other team").await;
    // B approves as another X user at the fake.
    let mut authorize = app.start_connect(&b).await;
    authorize
        .query_pairs_mut()
        .append_pair("fake_user_id", &seed.other_user_id);
    let query = app.approve_at_x(&authorize).await;
    assert!(app.callback(&query).await.status().is_redirection());
    let base = format!("/api/v1/x_ads/accounts/{}", acct.id);
    let (status, c) = app
        .send(
            Method::POST,
            &a,
            &format!("{base}/campaigns"),
            Some(json!({"name": "Tenant A's own", "funding_instrument_id": acct.funding_instrument_id,
                "daily_budget_amount_local_micro": 1_000_000})),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let (status, run) = app
        .send(
            Method::POST,
            &a,
            &format!("{base}/stats/sync?wait=true"),
            Some(json!({})),
        )
        .await;
    // Waited for: a run still writing rows when the sweep counts them would look like a leak.
    assert_eq!(status, 200, "{run}");
    let line_item = app.fake.state().line_items(&acct.id)[0].id.clone();
    let promoted_tweet = app.fake.state().promoted_tweets(&acct.id)[0].id.clone();
    let form = Form::new().part(
        "file",
        Part::bytes(png())
            .file_name("a.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let resp = app
        .http
        .post(format!("{}{base}/media", app.base))
        .bearer_auth(&a)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let media: serde_json::Value = resp.json().await.unwrap();
    let media = media["media_key"].as_str().unwrap().to_owned();
    Two {
        a,
        b,
        account: acct.id.clone(),
        campaign: c["id"].as_str().unwrap().to_owned(),
        line_item,
        promoted_tweet,
        media,
        sync_id: run["sync_id"].as_str().unwrap_or("syn_x").to_owned(),
        fi: acct.funding_instrument_id.clone(),
        tweet: acct.tweet_ids[0].clone(),
        app,
    }
}

fn fill(path: &str, t: &Two, id_for: &str) -> String {
    path.replace("{account_id}", &t.account)
        .replace("{sync_id}", &t.sync_id)
        .replace("{action}", "stop")
        .replace("{id}", id_for)
}

/// Row counts of every table that holds tenant data.
async fn counts(app: &TestApp) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for table in [
        "entities",
        "x_writes",
        "audit_log",
        "idempotency_keys",
        "stats_hourly",
        "sync_runs",
        "media",
        "media_uploads",
        "experiments",
        "fx_rates",
        "connections",
        "ad_accounts",
        "oauth_pending",
    ] {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(app.state.db.pool())
            .await
            .map(|r| r.get::<i64, _>(0))
            .unwrap_or(-1);
        out.push((table.to_owned(), n));
    }
    out
}

fn x_writes(app: &TestApp) -> usize {
    app.fake
        .state()
        .ledger()
        .iter()
        .filter(|e| {
            e.method != "GET" && (e.path.starts_with("/12/") || e.path.starts_with("/2/media"))
        })
        .count()
}

#[tokio::test]
async fn every_route_with_another_tenants_ids_answers_404_and_changes_nothing() {
    for db in xads::testing::all_backend_urls().await {
        let t = two_tenants(&db).await;
        // Let A's sync finish so the counts are still.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let (_, a_before) = t
            .app
            .get(
                &t.a,
                &format!("/api/v1/x_ads/accounts/{}/campaigns", t.account),
            )
            .await;
        let rows_before = counts(&t.app).await;
        let writes_before = x_writes(&t.app);
        let mut checked = 0;
        for (method, path) in operations() {
            if !path.contains("{account_id}") {
                continue;
            }
            let id = if path.contains("/line_items/") {
                t.line_item.clone()
            } else if path.contains("/promoted_tweets/") {
                t.promoted_tweet.clone()
            } else if path.contains("/media/") {
                t.media.clone()
            } else {
                t.campaign.clone()
            };
            let url = format!("{}{}", t.app.base, fill(&path, &t, &id));
            let mut req = t.app.http.request(method.clone(), &url).bearer_auth(&t.b);
            if path.ends_with("/media") && method == Method::POST {
                let form = Form::new().part(
                    "file",
                    Part::bytes(png())
                        .file_name("x.png")
                        .mime_str("image/png")
                        .unwrap(),
                );
                req = req.multipart(form);
            } else if method != Method::GET && method != Method::DELETE {
                // A body that is valid for the route, so only ownership can refuse it.
                let body = if method == Method::PATCH {
                    json!({"paused": true})
                } else if path.ends_with("/campaigns") {
                    json!({"name": "B was here", "funding_instrument_id": t.fi,
                        "daily_budget_amount_local_micro": 1_000_000})
                } else if path.ends_with("/line_items") {
                    json!({"campaign_id": t.campaign, "name": "B", "objective": "ENGAGEMENTS",
                        "product_type": "PROMOTED_TWEETS", "placements": ["ALL_ON_TWITTER"],
                        "bid_amount_local_micro": 1_000_000})
                } else if path.ends_with("/promoted_tweets") {
                    json!({"line_item_id": t.line_item, "tweet_ids": [t.tweet]})
                } else if path.ends_with("/experiments") {
                    let li = json!({"objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
                        "placements": ["ALL_ON_TWITTER"], "bid_amount_local_micro": 1_000_000,
                        "daily_budget_amount_local_micro": 5_000_000});
                    json!({"name": "B", "campaign_id": t.campaign, "primary_metric": "ctr",
                        "schedule": {"mode": "rotate", "slot_hours": 6},
                        "stop": {"min_impressions": 1000, "max_days": 14},
                        "variants": [
                            {"name": "V0", "control": true, "tweet_id": t.tweet, "line_item": li},
                            {"name": "V1", "control": false, "tweet_id": t.tweet, "line_item": li}]})
                } else {
                    json!({})
                };
                req = req.json(&body);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(status, 404, "{method} {path} as another tenant: {text}");
            for secret in [&t.campaign, &"Tenant A's own".to_owned()] {
                assert!(
                    !text.contains(secret.as_str()),
                    "{method} {path} leaked {text}"
                );
            }
            checked += 1;
        }
        assert!(checked >= 15, "swept {checked} routes");
        // Routes without ids answer B's own view only.
        let (status, accounts) = t.app.get(&t.b, "/api/v1/x_ads/accounts").await;
        assert_eq!(status, 200);
        assert!(
            !accounts.to_string().contains(&t.account),
            "B's account list shows A's account"
        );
        let (_, tiles) = t.app.get(&t.b, "/api/v1/integrations").await;
        assert!(!tiles.to_string().contains(&t.account));
        assert_eq!(counts(&t.app).await, rows_before, "nothing written");
        assert_eq!(x_writes(&t.app), writes_before, "nothing sent to X");
        let (_, a_after) = t
            .app
            .get(
                &t.a,
                &format!("/api/v1/x_ads/accounts/{}/campaigns", t.account),
            )
            .await;
        assert_eq!(a_after, a_before, "tenant A's data is unchanged");
    }
}

#[tokio::test]
async fn every_write_route_refuses_bad_input_with_a_4xx_and_writes_nothing() {
    for db in xads::testing::all_backend_urls().await {
        let (app, key) = TestApp::live_connected(&db).await;
        let seed = app.fake.state().seed_info();
        let account = seed.usd_account_id.clone();
        let campaign = app.fake.state().campaigns(&account)[0].id.clone();
        let big = format!(r#"{{"name": "{}"}}"#, "a".repeat(1_200_000));
        let bodies: Vec<(&str, String)> = vec![
            ("malformed JSON", r#"{"name": "#.into()),
            ("not JSON", "name=x".into()),
            ("huge body", big),
            ("an array", "[1, 2, 3]".into()),
            ("a string", r#""campaign""#.into()),
            ("wrong types", r#"{"name": 5, "paused": "yes", "funding_instrument_id": []}"#.into()),
            (
                "negative money",
                r#"{"name": "n", "funding_instrument_id": "abc", "daily_budget_amount_local_micro": -5}"#.into(),
            ),
            (
                "overflowing money",
                r#"{"name": "n", "funding_instrument_id": "abc", "daily_budget_amount_local_micro": 99999999999999999999999}"#.into(),
            ),
            (
                "unknown enums",
                r#"{"objective": "WIN", "product_type": "TV", "placements": ["MOON"], "entity": "planet", "action": "explode"}"#.into(),
            ),
            (
                "bad ids",
                r#"{"campaign_id": "../../x", "line_item_id": "'; DROP TABLE entities; --", "tweet_ids": ["-1"]}"#.into(),
            ),
            (
                "bad fx rates",
                r#"[{"date": "2024-13-45", "currency": "usd", "usd_per_unit": "-1e999"}]"#.into(),
            ),
        ];
        let rows_before = counts(&app).await;
        let writes_before = x_writes(&app);
        let mut checked = 0;
        for (method, path) in operations() {
            if method == Method::GET {
                continue;
            }
            let has_params = path.contains('{');
            // Bodies on routes whose path is valid.
            if method != Method::DELETE {
                let url = format!(
                    "{}{}",
                    app.base,
                    path.replace("{account_id}", &account)
                        .replace("{sync_id}", "syn_none")
                        .replace("{action}", "stop")
                        .replace("{id}", &campaign)
                );
                for (what, body) in &bodies {
                    let resp = app
                        .http
                        .request(method.clone(), &url)
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status().as_u16();
                    let json_body = resp
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("application/json"));
                    let text = resp.text().await.unwrap_or_default();
                    assert!(
                        (400..500).contains(&status),
                        "{method} {path} with {what}: {status} {}",
                        &text[..text.len().min(300)]
                    );
                    // The API's one error shape: {"error": {"code", "message"}}.
                    assert!(
                        json_body,
                        "{method} {path} with {what}: {status} is not JSON: {}",
                        &text[..text.len().min(200)]
                    );
                    let err: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    assert!(
                        err["error"]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty()),
                        "{method} {path} with {what}: {status} says why: {text:.200}"
                    );
                    checked += 1;
                }
            }
            // Bad ids in the path.
            if has_params {
                for bad in [
                    "..%2F..",
                    "%27%3B%20DROP",
                    "x".repeat(300).as_str(),
                    "-1",
                    "%00",
                ] {
                    let url = format!(
                        "{}{}",
                        app.base,
                        path.replace("{account_id}", bad)
                            .replace("{sync_id}", bad)
                            .replace("{action}", bad)
                            .replace("{id}", bad)
                    );
                    let resp = app
                        .http
                        .request(method.clone(), &url)
                        .bearer_auth(&key)
                        .json(&json!({"name": "n"}))
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status().as_u16();
                    assert!(
                        (400..500).contains(&status),
                        "{method} {path} with id {bad:.20}: {status}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked} requests");
        assert_eq!(x_writes(&app), writes_before, "nothing sent to X");
        assert_eq!(counts(&app).await, rows_before, "nothing written");
        let (status, _) = app.get(&key, "/api/v1/integrations").await;
        assert_eq!(status, 200, "still connected, still answering");
    }
}

#[tokio::test]
async fn an_altered_redirect_never_sends_the_browser_or_a_code_elsewhere() {
    let app = TestApp::spawn(
        &xads::testing::sqlite_url(),
        xads_fake::FakeConfig::default(),
    )
    .await;
    let key = app.tenant("Growth").await;

    // The authorize URL with its redirect_uri swapped for an attacker's: X refuses it (the
    // callback must be registered), so no code ever travels there.
    let mut authorize = app.start_connect(&key).await;
    let pairs: Vec<(String, String)> = authorize
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                "https://attacker.example/oauth/x_ads/callback".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    authorize.query_pairs_mut().clear().extend_pairs(pairs);
    let resp = app.http.get(authorize).send().await.unwrap();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        !location.contains("attacker.example"),
        "X redirected to the altered callback: {location}"
    );

    // Our callback with extra redirect-like parameters: it lands on our own page, never elsewhere.
    let authorize = app.start_connect(&key).await;
    let query = app.approve_at_x(&authorize).await;
    let resp = app
        .callback(&format!(
            "{query}&redirect_to=https%3A%2F%2Fattacker.example%2F&next=%2F%2Fattacker.example&redirect_uri=https%3A%2F%2Fattacker.example%2F"
        ))
        .await;
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        location.starts_with('/') && !location.starts_with("//"),
        "{location}"
    );
    assert!(!location.contains("attacker"), "{location}");
}

#[tokio::test]
async fn a_path_id_that_cannot_be_one_answers_404_with_the_envelope_in_every_position() {
    // NUL, control bytes, DEL, 300 characters and bytes that are not UTF-8, in each id position
    // of each route on its own (the other ids valid), on both backends: refused at the edge as an
    // unknown id is (404 `not_found`, the error envelope), never a 500 from PostgreSQL, never
    // axum's plain text, nothing read by id, written or sent to X.
    let long = "x".repeat(300);
    let bad: [(&str, &str); 7] = [
        ("NUL", "%00"),
        ("NUL inside", "8wku2%00"),
        ("control byte", "a%01b"),
        ("unit separator", "%1F"),
        ("DEL", "%7F"),
        ("overlong", long.as_str()),
        ("not UTF-8", "%FF%FE"),
    ];
    for db in xads::testing::all_backend_urls().await {
        let t = two_tenants(&db).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let rows_before = counts(&t.app).await;
        let writes_before = x_writes(&t.app);
        let mut checked = 0;
        for (method, path) in operations() {
            if !path.starts_with("/api/v1/x_ads/accounts/{account_id}") {
                continue;
            }
            let (id, what_id) = if path.contains("/line_items/") {
                (t.line_item.as_str(), "line item")
            } else if path.contains("/promoted_tweets/") {
                (t.promoted_tweet.as_str(), "promoted tweet")
            } else if path.contains("/media/") {
                (t.media.as_str(), "media")
            } else if path.contains("/experiments/") {
                ("exp_00000000000000000000", "experiment")
            } else {
                (t.campaign.as_str(), "campaign")
            };
            let positions = [
                "{account_id}",
                "{id}",
                "{sync_id}",
                "{backfill_id}",
                "{action}",
            ];
            for pos in positions.iter().filter(|p| path.contains(**p)) {
                // A run's own id is looked up with its account: a bad account is "not found"
                // of the run, as an unknown run is.
                let what = match *pos {
                    "{account_id}" if path.contains("{sync_id}") => "sync",
                    "{account_id}" if path.contains("{backfill_id}") => "backfill",
                    "{account_id}" => "ad account",
                    "{sync_id}" => "sync",
                    "{backfill_id}" => "backfill",
                    "{action}" => "route",
                    _ => what_id,
                };
                for (name, value) in bad {
                    let filled = path
                        .replace(pos, value)
                        .replace("{account_id}", &t.account)
                        .replace("{sync_id}", &t.sync_id)
                        .replace("{backfill_id}", "bfl_00000000000000000000")
                        .replace("{action}", "stop")
                        .replace("{id}", id);
                    let url = format!("{}{filled}", t.app.base);
                    let mut req = t.app.http.request(method.clone(), &url).bearer_auth(&t.a);
                    if method == Method::PATCH {
                        req = req.json(&json!({"paused": true}));
                    } else if method == Method::POST && !path.ends_with("/media") {
                        req = req.json(&json!({}));
                    }
                    let resp = req.send().await.unwrap();
                    let status = resp.status().as_u16();
                    let json_body = resp
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("application/json"));
                    let text = resp.text().await.unwrap_or_default();
                    let at = format!("{method} {path} with {name} as {pos}");
                    assert_eq!(status, 404, "{at}: {text:.300}");
                    assert!(json_body, "{at}: not JSON: {text:.200}");
                    let err: serde_json::Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(err["error"]["code"], "not_found", "{at}: {text}");
                    // Control bytes are refused by the edge middleware before any route
                    // ("resource not found"); the rest by the handler's id parsing, which
                    // names what was not found, as for an unknown id.
                    let message = if name == "overlong" {
                        format!("{what} not found")
                    } else {
                        "resource not found".to_owned()
                    };
                    assert_eq!(err["error"]["message"], message, "{at}");
                    checked += 1;
                }
            }
        }
        assert!(checked >= 150, "{checked} requests");
        assert_eq!(counts(&t.app).await, rows_before, "nothing written");
        assert_eq!(x_writes(&t.app), writes_before, "nothing sent to X");
    }
}
