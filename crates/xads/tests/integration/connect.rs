//! Connect and disconnect against the fake X, on both database backends (PRODUCT.md §4.1, §4.2).

use reqwest::Method;
use xads::connect::{PKCE_PROBLEM, STATE_PROBLEM};
use xads::store::connections;
use xads::x::{PROBLEM_401, XSession};
use xads_fake::FakeConfig;

use crate::helpers::{TestApp, secrets_seen};

async fn page_text(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// `s` as the pages render it (escaped by maud, as every outside value is).
fn html_escaped(s: &str) -> String {
    maud::html! { (s) }.into_string()
}

#[tokio::test]
async fn full_round_trip_stores_sealed_tokens_and_the_ad_accounts() {
    for db_url in xads::testing::all_backend_urls().await {
        let app = TestApp::spawn(&db_url, FakeConfig::default()).await;
        let key = app.tenant("Growth").await;

        let (_, tile) = app.get(&key, "/api/v1/integrations").await;
        assert_eq!(tile["data"][0]["status"], "disconnected");
        assert_eq!(tile["data"][0]["mode"], "dry_run");

        let authorize = app.start_connect(&key).await;
        let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "fake-client-id");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "ads.read ads.write offline.access media.write");
        assert_eq!(q["code_challenge"].len(), 43);

        let callback_query = app.approve_at_x(&authorize).await;
        let resp = app.callback(&callback_query).await;
        assert_eq!(resp.status(), 303);
        assert_eq!(resp.headers()["location"], "/integrations?connected=x_ads");

        // The exchange used Basic auth and the verifier matching the challenge.
        let ledger = app.fake.state().ledger();
        let token_call = ledger
            .iter()
            .find(|e| e.path == "/2/oauth2/token")
            .expect("token call");
        assert!(
            token_call
                .header("authorization")
                .unwrap()
                .starts_with("Basic ")
        );
        let form: std::collections::HashMap<_, _> =
            url::form_urlencoded::parse(token_call.body_text.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(form["grant_type"], "authorization_code");
        assert_eq!(
            xads::pkce::s256_challenge(&form["code_verifier"]),
            q["code_challenge"]
        );
        assert!(
            ledger
                .iter()
                .any(|e| e.method == "GET" && e.path == "/12/accounts")
        );

        let (status, tile) = app.get(&key, "/api/v1/integrations").await;
        assert_eq!(status, 200);
        let tile = &tile["data"][0];
        assert_eq!(tile["provider"], "x_ads");
        assert_eq!(tile["status"], "connected");
        assert_eq!(tile["problem"], serde_json::Value::Null);
        let seed = app.fake.state().seed_info();
        let accounts = tile["accounts"].as_array().unwrap();
        let currency_of = |id: &str| {
            accounts
                .iter()
                .find(|a| a["id"] == id)
                .map(|a| a["currency"].clone())
        };
        assert_eq!(currency_of(&seed.usd_account_id), Some("USD".into()));
        assert_eq!(currency_of(&seed.jpy_account_id), Some("JPY".into()));
        assert_eq!(currency_of(&seed.kwd_account_id), Some("KWD".into()));
        assert!(
            tile["scopes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "ads.write")
        );

        let (status, list) = app.get(&key, "/api/v1/x_ads/accounts?refresh=true").await;
        assert_eq!(status, 200);
        assert_eq!(list["data"].as_array().unwrap().len(), accounts.len());

        // No secret that crossed the wire is stored in clear anywhere in the connection rows.
        let secrets = secrets_seen(&app.fake);
        assert!(secrets.len() >= 3, "{secrets:?}");
        type SealedPair = (Option<Vec<u8>>, Option<Vec<u8>>);
        let rows: Vec<SealedPair> = sqlx::query_as("SELECT access_ct, refresh_ct FROM connections")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
        let pending: Vec<Vec<u8>> = sqlx::query_scalar("SELECT secret_ct FROM oauth_pending")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
        let mut blobs: Vec<Vec<u8>> = pending;
        for (a, r) in rows {
            blobs.extend(a);
            blobs.extend(r);
        }
        for s in &secrets {
            for b in &blobs {
                assert!(
                    !b.windows(s.len()).any(|w| w == s.as_bytes()),
                    "secret in clear"
                );
            }
        }

        // A sealed token moved to another row does not open there.
        let id: String = sqlx::query_scalar("SELECT id FROM connections")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE connections SET refresh_ct = access_ct WHERE id = $1")
            .bind(&id)
            .execute(app.state.db.pool())
            .await
            .unwrap();
        assert!(
            connections::load_tokens(&app.state.db, &app.state.sealer, &id)
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn replayed_foreign_and_expired_states_are_refused_with_the_restart_text() {
    let app = TestApp::spawn(&xads::testing::sqlite_url(), FakeConfig::default()).await;
    let key = app.tenant("Growth").await;

    // Replayed: the second use of a state is refused.
    let authorize = app.start_connect(&key).await;
    let query = app.approve_at_x(&authorize).await;
    assert_eq!(app.callback(&query).await.status(), 303);
    let (status, page) = page_text(app.callback(&query).await).await;
    assert_eq!(status, 400);
    assert!(page.contains(&html_escaped(STATE_PROBLEM)), "{page}");
    assert!(page.contains("10-minute"));

    // Foreign: a state we never issued (with a real code from X).
    let authorize = app.start_connect(&key).await;
    let query = app.approve_at_x(&authorize).await;
    let forged: String = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged-state-value".into()
            } else {
                v
            };
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&");
    let (status, page) = page_text(app.callback(&forged).await).await;
    assert_eq!(status, 400);
    assert!(page.contains(&html_escaped(STATE_PROBLEM)));
    // Missing state altogether.
    assert_eq!(app.callback("code=abc").await.status(), 400);

    // Expired: approved, but the callback arrives after the 10-minute TTL.
    let authorize = app.start_connect(&key).await;
    let query = app.approve_at_x(&authorize).await;
    app.state
        .clock
        .advance(chrono::Duration::minutes(10) + chrono::Duration::seconds(1));
    let (status, page) = page_text(app.callback(&query).await).await;
    assert_eq!(status, 400);
    assert!(page.contains(&html_escaped(STATE_PROBLEM)));
}

#[tokio::test]
async fn a_verifier_that_does_not_match_the_challenge_gives_the_pkce_text() {
    let app = TestApp::spawn(&xads::testing::sqlite_url(), FakeConfig::default()).await;
    let key = app.tenant("Growth").await;
    let mut authorize = app.start_connect(&key).await;
    // The browser reaches X with another challenge than the one our verifier answers.
    let pairs: Vec<(String, String)> = authorize
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "code_challenge" {
                (k, xads::pkce::s256_challenge("some-other-verifier"))
            } else {
                (k, v)
            }
        })
        .collect();
    authorize.query_pairs_mut().clear().extend_pairs(pairs);
    let query = app.approve_at_x(&authorize).await;
    let (status, page) = page_text(app.callback(&query).await).await;
    assert_eq!(status, 400);
    assert!(page.contains(&html_escaped(PKCE_PROBLEM)), "{page}");
    let (_, tile) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "disconnected");
}

#[tokio::test]
async fn a_401_probe_shows_the_reconnect_text_on_the_page_and_the_tile() {
    let config = FakeConfig {
        // Tokens are born expired, so the /12/accounts probe gets a 401.
        access_token_ttl_secs: 0,
        ..FakeConfig::default()
    };
    let app = TestApp::spawn(&xads::testing::sqlite_url(), config).await;
    let key = app.tenant("Growth").await;
    let authorize = app.start_connect(&key).await;
    let query = app.approve_at_x(&authorize).await;
    let (status, page) = page_text(app.callback(&query).await).await;
    assert_eq!(status, 401);
    assert!(page.contains(PROBLEM_401));
    let (_, tile) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "needs_reconnect");
    assert_eq!(tile["data"][0]["problem"], PROBLEM_401);
}

#[tokio::test]
async fn an_unapproved_app_is_told_so_and_pointed_at_oauth1() {
    let config = FakeConfig {
        app_approved: false,
        ..FakeConfig::default()
    };
    let app = TestApp::spawn(&xads::testing::sqlite_url(), config).await;
    let key = app.tenant("Growth").await;
    let authorize = app.start_connect(&key).await;
    let query = app.approve_at_x(&authorize).await;
    let (status, page) = page_text(app.callback(&query).await).await;
    assert_eq!(status, 403);
    assert!(page.contains("UNAUTHORIZED_CLIENT_APPLICATION"));
    assert!(page.contains("X_ADS_CONSUMER_KEY"));
    let (_, tile) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "error");
}

/// `n` callers spread over `states` (instances), each making one authenticated call to X at once;
/// every one must succeed.
async fn call_x_concurrently(states: &[xads::app::AppState], tenant_id: &str, n: usize) {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (st, tenant_id) = (states[i % states.len()].clone(), tenant_id.to_owned());
        tasks.push(tokio::spawn(async move {
            let session = XSession::for_tenant(&st, &tenant_id).await.unwrap();
            session
                .call(|x| async move {
                    x.list_accounts(&xads_client::ListParams::new())
                        .await
                        .map(|_| ())
                })
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("every caller succeeds");
    }
}

/// 32 concurrent callers on two instances sharing the database meet an expired access token.
#[tokio::test]
async fn concurrent_callers_on_two_instances_cause_exactly_one_refresh() {
    for db_url in xads::testing::all_backend_urls().await {
        let app = TestApp::spawn(&db_url, FakeConfig::default()).await;
        let key = app.tenant("Growth").await;
        app.connect(&key).await;
        let vars = crate::helpers::vars_for(&db_url, &app.fake);
        let second =
            xads::app::AppState::from_config(xads::config::Config::from_vars(&vars).unwrap())
                .await
                .unwrap();
        let tenant = xads::store::tenants::by_api_key(&app.state.db, &key)
            .await
            .unwrap()
            .unwrap();

        // Case 1: our clock says the token is about to expire → refresh ahead of expiry.
        app.state.clock.advance(chrono::Duration::hours(2));
        second.clock.advance(chrono::Duration::hours(2));
        let before = app.fake.state().oauth_counters();
        let states = [app.state.clone(), second.clone()];
        call_x_concurrently(&states, &tenant.id, 32).await;
        let after = app.fake.state().oauth_counters();
        assert_eq!(after.refresh_calls - before.refresh_calls, 1, "{db_url}");
        assert!(app.fake.state().family_revocations().is_empty());

        // Case 2: X expired the token early → every caller gets a 401, one refreshes.
        app.fake.state().expire_access_tokens();
        let before = app.fake.state().oauth_counters();
        call_x_concurrently(&states, &tenant.id, 32).await;
        let after = app.fake.state().oauth_counters();
        assert_eq!(after.refresh_calls - before.refresh_calls, 1, "{db_url}");
        assert!(app.fake.state().family_revocations().is_empty());
        let (_, tile) = app.get(&key, "/api/v1/integrations").await;
        assert_eq!(tile["data"][0]["status"], "connected");
    }
}

#[tokio::test]
async fn a_refused_refresh_marks_the_connection_needs_reconnect() {
    let app = TestApp::spawn(&xads::testing::sqlite_url(), FakeConfig::default()).await;
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    let seed = app.fake.state().seed_info();
    // The user removed the app at X: the grant (and refresh token) is gone.
    app.fake.state().revoke_grants_for_user(&seed.user_id);
    app.state.clock.advance(chrono::Duration::hours(2));
    let (status, body) = app.get(&key, "/api/v1/x_ads/accounts?refresh=true").await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "needs_reconnect");
    assert_eq!(body["error"]["message"], PROBLEM_401);
    let (_, tile) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "needs_reconnect");
    assert_eq!(tile["data"][0]["problem"], PROBLEM_401);
    // Connecting again clears it.
    app.connect(&key).await;
    let (_, tile) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "connected");
}

#[tokio::test]
async fn disconnect_deletes_tokens_revokes_and_keeps_history() {
    let app = TestApp::spawn(&xads::testing::sqlite_url(), FakeConfig::default()).await;
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    let (status, body) = app
        .send(Method::DELETE, &key, "/api/v1/integrations/x_ads", None)
        .await;
    assert_eq!(status, 200);
    assert!(body["note"].as_str().unwrap().contains("connected apps"));
    assert_eq!(app.fake.state().oauth_counters().revoke_calls, 1);
    let (tokens,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM connections WHERE access_ct IS NOT NULL OR refresh_ct IS NOT NULL",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(tokens, 0);
    let (_, tile) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "disconnected");
    // History (the connection row and the known ad accounts) stays.
    let (accounts,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ad_accounts")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert!(accounts >= 3);
    let (status, body) = app.get(&key, "/api/v1/x_ads/accounts").await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "not_connected");
}

#[tokio::test]
async fn webhooks_are_refused_with_the_documented_text() {
    let app = TestApp::spawn(&xads::testing::sqlite_url(), FakeConfig::default()).await;
    let key = app.tenant("Growth").await;
    let (status, body) = app
        .send(
            Method::POST,
            &key,
            "/api/v1/integrations/x_ads/webhooks",
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "webhooks_not_supported");
    assert_eq!(body["error"]["message"], "webhooks not supported on x_ads");
}

#[tokio::test]
async fn every_route_needs_a_valid_key_and_sees_only_its_tenant() {
    let app = TestApp::spawn(&xads::testing::sqlite_url(), FakeConfig::default()).await;
    let alpha = app.tenant("Alpha").await;
    let beta = app.tenant("Beta").await;
    app.connect(&alpha).await;

    let routes: &[(Method, &str)] = &[
        (Method::GET, "/api/v1/integrations"),
        (Method::POST, "/api/v1/integrations/x_ads/connect"),
        (Method::DELETE, "/api/v1/integrations/x_ads"),
        (Method::POST, "/api/v1/integrations/x_ads/webhooks"),
        (Method::GET, "/api/v1/x_ads/accounts"),
    ];
    for (method, path) in routes {
        for key in ["", "xads_not-a-key"] {
            let (status, body) = app.send(method.clone(), key, path, None).await;
            assert_eq!(status, 401, "{method} {path}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    // Beta sees its own (empty) world, never Alpha's connection or accounts.
    let (_, tile) = app.get(&beta, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "disconnected");
    assert_eq!(tile["data"][0]["accounts"], serde_json::json!([]));
    let (status, _) = app.get(&beta, "/api/v1/x_ads/accounts").await;
    assert_eq!(status, 409);
    // Beta's disconnect does not touch Alpha.
    app.send(Method::DELETE, &beta, "/api/v1/integrations/x_ads", None)
        .await;
    let (_, tile) = app.get(&alpha, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "connected");
    // Alpha's state cannot be completed as Beta: the state is bound to the tenant that started it.
    let authorize = app.start_connect(&alpha).await;
    let query = app.approve_at_x(&authorize).await;
    assert_eq!(app.callback(&query).await.status(), 303);
    let (_, tile) = app.get(&beta, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "disconnected");
}

#[tokio::test]
async fn no_secret_appears_in_any_log_line() {
    let app = TestApp::spawn(&xads::testing::sqlite_url(), FakeConfig::default()).await;
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    app.state.clock.advance(chrono::Duration::hours(2));
    let (status, _) = app.get(&key, "/api/v1/x_ads/accounts?refresh=true").await;
    assert_eq!(status, 200);
    app.send(Method::DELETE, &key, "/api/v1/integrations/x_ads", None)
        .await;
    let logs = crate::captured_logs();
    assert!(
        logs.contains("access token refreshed"),
        "logs were captured"
    );
    let mut secrets = secrets_seen(&app.fake);
    secrets.push(key.clone());
    for s in secrets {
        assert!(!logs.contains(&s), "a secret reached the logs");
    }
}

#[tokio::test]
async fn oauth1_connects_and_signs_everything_downstream() {
    let fake = xads_fake::FakeX::start(FakeConfig::default())
        .await
        .unwrap();
    let mut vars = crate::helpers::vars_for(&xads::testing::sqlite_url(), &fake);
    vars.insert("X_ADS_LIVE_MODE".into(), "true".into());
    let app = TestApp::spawn_with(fake, &vars).await;
    let key = app.tenant("Growth").await;
    let (_, tile) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(
        tile["data"][0]["methods"],
        serde_json::json!(["oauth2", "oauth1"])
    );

    let authorize = app.start_connect_with(&key, "oauth1").await;
    assert_eq!(authorize.path(), "/oauth/authorize");
    assert!(authorize.query_pairs().any(|(k, _)| k == "oauth_token"));
    let query = app.approve_at_x(&authorize).await;
    assert!(query.contains("oauth_verifier="), "{query}");
    let resp = app.callback(&query).await;
    assert_eq!(resp.status(), 303);
    // The request token is single use.
    let (status, page) = page_text(app.callback(&query).await).await;
    assert_eq!(status, 400);
    assert!(page.contains(&html_escaped(STATE_PROBLEM)));

    let (_, tile) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "connected");
    assert!(tile["data"][0]["accounts"].as_array().unwrap().len() >= 3);

    // Downstream calls are signed with OAuth 1.0a (and the fake verified each signature).
    let seed = app.fake.state().seed_info();
    let acct = seed.account(&seed.usd_account_id).unwrap().clone();
    let (status, created) = app
        .send(
            Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{}/campaigns", acct.id),
            Some(serde_json::json!({"name": "Over OAuth 1.0a: a, b", "funding_instrument_id": acct.funding_instrument_id})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let post = app.x_writes().pop().unwrap();
    assert!(post.header("authorization").unwrap().starts_with("OAuth "));
    assert!(
        post.header("authorization")
            .unwrap()
            .contains("oauth_signature_method=\"HMAC-SHA1\"")
    );
    assert!(
        app.fake
            .state()
            .ledger()
            .iter()
            .filter(|e| e.path.starts_with("/12/"))
            .all(|e| e.status.is_some_and(|s| s < 400))
    );

    // The access token is sealed at rest and never logged.
    let auth = post.header("authorization").unwrap().to_owned();
    let token = auth
        .split("oauth_token=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    assert!(token.len() >= 8);
    let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT access_ct FROM connections")
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| !r.windows(token.len()).any(|w| w == token.as_bytes()))
    );
    assert!(!crate::captured_logs().contains(&token));

    // A stats sync over the same connection: signed stats calls, rows stored.
    let (status, run) = app
        .send(
            Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{}/stats/sync?wait=true", acct.id),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(
        (status, run["status"].clone()),
        (200, serde_json::json!("succeeded")),
        "{run}"
    );
    let stats_calls: Vec<_> = app
        .fake
        .state()
        .ledger()
        .into_iter()
        .filter(|e| e.path.starts_with("/12/stats/accounts/"))
        .collect();
    assert!(!stats_calls.is_empty());
    assert!(stats_calls.iter().all(|e| {
        e.header("authorization")
            .is_some_and(|a| a.starts_with("OAuth "))
            && e.status == Some(200)
    }));
    let (status, rows) = app
        .get(
            &key,
            &format!(
                "/api/v1/x_ads/accounts/{}/stats?entity=campaign&granularity=total",
                acct.id
            ),
        )
        .await;
    assert_eq!(status, 200, "{rows}");
    assert!(!rows["data"].as_array().unwrap().is_empty(), "{rows}");

    // Disconnect invalidates the pair at X.
    app.send(Method::DELETE, &key, "/api/v1/integrations/x_ads", None)
        .await;
    assert!(
        app.fake
            .state()
            .ledger()
            .iter()
            .any(|e| e.path == "/1.1/oauth/invalidate_token")
    );
}

/// Set in the child process of the refresh test: the JSON of its settings.
const REFRESH_CHILD: &str = "XADS_REFRESH_TEST_CHILD";

/// 16 callers in this process and 16 in a second OS process (this test binary re-run, filtered to
/// `connect::refresh_child`) meet an access token that is due for refresh, while X's token
/// endpoint is slow: exactly one refresh reaches X and the token family is never revoked.
#[tokio::test]
async fn two_processes_meeting_a_due_token_refresh_it_once() {
    let db_url = xads::testing::sqlite_url();
    let app = TestApp::spawn(&db_url, FakeConfig::default()).await;
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    let tenant = xads::store::tenants::by_api_key(&app.state.db, &key)
        .await
        .unwrap()
        .unwrap();
    // Due by the wall clock in both processes: 1 minute left (< 5 minutes ahead).
    sqlx::query("UPDATE connections SET access_expires_at = $1")
        .bind((chrono::Utc::now() + chrono::Duration::minutes(1)).timestamp_millis())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    // A slow token endpoint keeps the first refresh in flight while the other process arrives.
    app.fake.state().add_fault(xads_fake::FaultRule::new(
        Some("POST"),
        "/2/oauth2/token",
        xads_fake::FaultKind::Latency { ms: 1_500 },
    ));
    let before = app.fake.state().oauth_counters().refresh_calls;
    let settings = serde_json::json!({
        "vars": crate::helpers::vars_for(&db_url, &app.fake),
        "tenant": tenant.id,
    });
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "connect::refresh_child",
            "--ignored",
            "--nocapture",
            "-q",
        ])
        .env(REFRESH_CHILD, settings.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("re-run the test binary");
    call_x_concurrently(std::slice::from_ref(&app.state), &tenant.id, 16).await;
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        child.wait_with_output(),
    )
    .await
    .expect("the child finishes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    assert!(stdout.contains("CHILD OK 16"), "{stdout}");
    assert_eq!(app.fake.state().oauth_counters().refresh_calls - before, 1);
    assert!(app.fake.state().family_revocations().is_empty());
}

/// The second process of the test above; does nothing unless its parent started it (which runs
/// it with `--ignored`), so on its own it is ignored rather than counted as a pass.
#[tokio::test]
#[ignore = "child process: run by connect::two_processes_meeting_a_due_token_refresh_it_once"]
async fn refresh_child() {
    let Ok(settings) = std::env::var(REFRESH_CHILD) else {
        return;
    };
    let settings: serde_json::Value = serde_json::from_str(&settings).unwrap();
    let vars: std::collections::HashMap<String, String> =
        serde_json::from_value(settings["vars"].clone()).unwrap();
    let tenant_id = settings["tenant"].as_str().unwrap().to_owned();
    let state = xads::app::AppState::from_config(xads::config::Config::from_vars(&vars).unwrap())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (st, tenant_id) = (state.clone(), tenant_id.clone());
        tasks.push(tokio::spawn(async move {
            let session = XSession::for_tenant(&st, &tenant_id).await.unwrap();
            session
                .call(|x| async move {
                    x.list_accounts(&xads_client::ListParams::new())
                        .await
                        .map(|_| ())
                })
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    println!("CHILD OK {ok}");
}
