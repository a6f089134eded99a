//! Issue 16's edges of the public listener: operator surfaces off the public port, hardening
//! headers on every answer, and limits that cut off slow or greedy clients before anything
//! reaches X. Each test talks real TCP to a real listener.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, vars_for};
use xads_fake::{FakeConfig, FakeX};

/// A service with extra variables, against its own fake.
async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    let fake = FakeX::start(FakeConfig::default()).await.expect("fake X");
    let mut vars = vars_for(&xads::testing::sqlite_url(), &fake);
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    TestApp::spawn_with(fake, &vars).await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads until the peer closes (or `within` passes): what the server sent, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn metrics_answer_on_the_operators_listener_and_404_on_the_public_one() {
    let app = app_with(&[]).await;
    let public = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let body: serde_json::Value = public.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let operators = app
        .http
        .get(format!("{}/metrics", app.metrics_base.as_ref().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(operators.status(), 200);
    assert!(operators.text().await.unwrap().contains("xads_limiter"));
    // The operators' listener serves nothing else.
    let other = app
        .http
        .get(format!(
            "{}/api/v1/x_ads/accounts",
            app.metrics_base.as_ref().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn metrics_on_the_public_listener_need_the_token() {
    let token = "metrics-token-0123456789";
    let app = app_with(&[("XADS_METRICS_TOKEN", token), ("XADS_METRICS_BIND", "off")]).await;
    assert!(app.metrics_base.is_none());
    let url = format!("{}/metrics", app.base);
    for wrong in [
        None,
        Some("Bearer metrics-token-012345678X"),
        Some("Bearer "),
    ] {
        let mut req = app.http.get(&url);
        if let Some(h) = wrong {
            req = req.header("authorization", h);
        }
        assert_eq!(req.send().await.unwrap().status(), 404, "{wrong:?}");
    }
    let ok = app
        .http
        .get(&url)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn pages_and_answers_carry_the_hardening_headers() {
    let app = app_with(&[]).await;
    for path in [
        "/login",
        "/integrations",
        "/api/v1/integrations",
        "/healthz",
    ] {
        let resp = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("script-src"),
            "{path}: no script allowed: {csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
}

#[tokio::test]
async fn headers_trickled_past_the_timeout_are_cut_off() {
    let app = app_with(&[("XADS_HEADER_TIMEOUT", "1s")]).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The rest of the headers never comes.
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(15)).await;
    assert!(closed, "the connection was held open: {answer:?}");
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn a_json_body_trickled_past_the_timeout_is_refused_and_nothing_reaches_x() {
    let fake = FakeX::start(FakeConfig::default()).await.expect("fake X");
    let mut vars = vars_for(&xads::testing::sqlite_url(), &fake);
    vars.insert("X_ADS_LIVE_MODE".into(), "true".into());
    vars.insert("XADS_BODY_TIMEOUT".into(), "1s".into());
    let app = TestApp::spawn_with(fake, &vars).await;
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    let account = app.fake.state().seed_info().usd_account_id;
    let writes_before = app.x_writes().len();
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /api/v1/x_ads/accounts/{account}/campaigns HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"name\": \"slow"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert_eq!(app.x_writes().len(), writes_before, "a write reached X");
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let app = app_with(&[("XADS_MAX_CONNECTIONS", "2")]).await;
    let idle1 = TcpStream::connect(addr(&app)).await.unwrap();
    let _idle2 = TcpStream::connect(addr(&app)).await.unwrap();
    // Give the accept loop a moment to take both.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = app
        .http
        .get(format!("{}/healthz", app.base))
        .timeout(Duration::from_millis(700))
        .send()
        .await;
    assert!(third.is_err(), "a third connection was served: {third:?}");
    drop(idle1);
    let later = app
        .http
        .get(format!("{}/healthz", app.base))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(later.status(), 200);
}

#[tokio::test]
async fn one_caller_past_its_concurrency_gets_429_while_others_are_served() {
    let app = app_with(&[("XADS_TENANT_CONCURRENCY", "1")]).await;
    let key = app.tenant("Greedy").await;
    let other = app.tenant("Patient").await;
    // A request of `key` that stays in progress: its body never finishes.
    let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /api/v1/fx_rates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n["
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = app
        .send(reqwest::Method::GET, &key, "/api/v1/integrations", None)
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_requests");
    let (status, _) = app
        .send(reqwest::Method::GET, &other, "/api/v1/integrations", None)
        .await;
    assert_eq!(status, 200, "another tenant is not held up");
    drop(slow);
    // Once the slow request is gone, the same key is served again.
    let mut served = false;
    for _ in 0..50 {
        let (status, _) = app
            .send(reqwest::Method::GET, &key, "/api/v1/integrations", None)
            .await;
        if status == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the key stayed blocked after its request ended");
}

#[tokio::test]
async fn an_oauth1_denial_answers_the_oauth1_message_and_stores_nothing() {
    let app = app_with(&[]).await;
    let key = app.tenant("Growth").await;
    let authorize = app.start_connect_with(&key, "oauth1").await;
    let token = authorize
        .query_pairs()
        .find(|(k, _)| k == "oauth_token")
        .map(|(_, v)| v.into_owned())
        .expect("request token in the authorize URL");
    let query = format!("denied={token}");
    let resp = app.callback(&query).await;
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains(xads::connect::OAUTH1_DENIED_PROBLEM),
        "{page}"
    );
    let (_, tile) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(tile["data"][0]["status"], "disconnected");
    // The request token was consumed: the same denial again is an unknown state.
    let again = app.callback(&query).await.text().await.unwrap();
    assert!(
        !again.contains(xads::connect::OAUTH1_DENIED_PROBLEM),
        "{again}"
    );
}

/// Every answer here must be the API's error envelope with this status and code.
async fn assert_envelope(resp: reqwest::Response, status: u16, code: &str, what: &str) {
    assert_eq!(resp.status().as_u16(), status, "{what}");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{what}"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
}

#[tokio::test]
async fn answers_no_handler_wrote_still_carry_the_envelope() {
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let account = app.fake.state().seed_info().usd_account_id;
    let campaigns = format!("{}/api/v1/x_ads/accounts/{account}/campaigns", app.base);
    // 20 MB of JSON: the body limit's 413.
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(20 * 1024 * 1024));
    let resp = app
        .http
        .post(&campaigns)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_envelope(resp, 413, "payload_too_large", "20 MB body").await;
    // An unknown route and a wrong method.
    let resp = app
        .http
        .get(format!("{}/api/v1/no/such/route", app.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_envelope(resp, 404, "not_found", "unknown route").await;
    let resp = app
        .http
        .put(&campaigns)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_envelope(resp, 405, "method_not_allowed", "PUT on a list").await;
}

#[tokio::test]
async fn control_bytes_in_ids_and_filters_are_refused_at_the_edge_on_postgres() {
    let Some(db) = xads::testing::postgres_schema_url().await else {
        return; // skipped with its one line (or failed, where services are required)
    };
    let (app, key) = TestApp::dry_run_connected(&db).await;
    let a = format!(
        "/api/v1/x_ads/accounts/{}",
        app.fake.state().seed_info().usd_account_id
    );
    let cases = [
        (format!("{a}/experiments/exp%00x"), 404, "not_found"),
        (format!("{a}/experiments/exp%00x/results"), 404, "not_found"),
        (format!("{a}/stats/sync/syn%00x"), 404, "not_found"),
        (format!("{a}/campaigns/c%01"), 404, "not_found"),
        (
            "/api/v1/x_ads/accounts/a%00b/campaigns".to_owned(),
            404,
            "not_found",
        ),
        (
            format!("{a}/stats?ids=c1%00&from=2024-01-01&to=2024-01-02"),
            400,
            "bad_request",
        ),
        (format!("{a}/campaigns?cursor=%00"), 400, "bad_request"),
    ];
    for (path, status, code) in cases {
        let resp = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_envelope(resp, status, code, &path).await;
    }
}

/// `n` hourly JPY rows of `tenant` from 2026-03-01, 1 000 JPY of spend each, not yet converted.
async fn jpy_rows(state: &xads::app::AppState, tenant: &str, n: usize) {
    use xads::store::stats::{SPEND_LOCAL_MICRO, StatRow};
    use xads_client::vocab::{COLUMNS, Placement, StatsEntityType};
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let rows: Vec<StatRow> = (0..n)
        .map(|i| {
            let mut values = [Some(0i64); COLUMNS.len()];
            values[SPEND_LOCAL_MICRO] = Some(1_000_000_000);
            StatRow {
                account_id: "jpy_acct".into(),
                entity: StatsEntityType::Campaign,
                entity_id: format!("c{}", i % 7),
                hour: start + chrono::Duration::hours((i / 7) as i64),
                placement: Placement::AllOnTwitter,
                values,
                currency: "JPY".into(),
                fx: None,
            }
        })
        .collect();
    xads::store::stats::upsert(&state.db, tenant, &rows, state.clock.now())
        .await
        .unwrap();
}

/// Each of `tenant`'s rows: (fx_source, fx_rate, spend_usd).
async fn conversions(
    state: &xads::app::AppState,
    tenant: &str,
) -> Vec<(Option<String>, Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT fx_source, fx_rate, spend_usd FROM stats_hourly WHERE tenant_id = $1 ORDER BY hour, entity_id",
    )
    .bind(tenant)
    .fetch_all(state.db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn an_api_rate_is_its_tenants_own_and_reconverts_only_its_rows() {
    for db in xads::testing::all_backend_urls().await {
        let app = TestApp::spawn(&db, FakeConfig::default()).await;
        let (a, a_key) = xads::store::tenants::create(&app.state.db, "A", app.state.clock.now())
            .await
            .unwrap();
        let (b, b_key) = xads::store::tenants::create(&app.state.db, "B", app.state.clock.now())
            .await
            .unwrap();
        // More rows than one re-conversion step, so paging is exercised.
        let n = xads::store::stats::RECONVERT_CHUNK * 2 + 345;
        jpy_rows(&app.state, &a.id, n).await;
        jpy_rows(&app.state, &b.id, 500).await;
        let b_before = conversions(&app.state, &b.id).await;

        let (status, body) = app
            .send(
                reqwest::Method::POST,
                &a_key.0,
                "/api/v1/fx_rates",
                Some(serde_json::json!({"date": "2026-02-27", "currency": "JPY", "usd_per_unit": "0.0125"})),
            )
            .await;
        assert_eq!(status, 201, "{db}: {body}");
        assert_eq!(body["rows_reconverted"], n as u64, "{db}: {body}");
        let a_rows = conversions(&app.state, &a.id).await;
        assert_eq!(a_rows.len(), n);
        assert!(
            a_rows
                .iter()
                .all(|(src, rate, usd)| src.as_deref() == Some("api")
                    && rate.as_deref() == Some("0.0125")
                    && usd.as_deref() == Some("12.500000")),
            "{db}: {:?}",
            &a_rows[..3]
        );
        // B's rows and B's view of the rates are untouched by A's override.
        assert_eq!(conversions(&app.state, &b.id).await, b_before, "{db}");
        let (_, listed) = app.get(&b_key.0, "/api/v1/fx_rates?currency=JPY").await;
        assert!(
            listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["source"] != "api"),
            "{db}: B sees A's rate: {listed}"
        );
        let (_, listed) = app.get(&a_key.0, "/api/v1/fx_rates?currency=JPY").await;
        assert!(
            listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["source"] == "api" && r["date"] == "2026-02-27"),
            "{db}: A does not see its own rate: {listed}"
        );

        // An operator's global import converts both tenants; A's override keeps its own date.
        let ecb = xads::fx::Rate {
            currency: "JPY".into(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            usd_per_unit: "0.0066".parse().unwrap(),
            source: xads::fx::Source::Ecb,
        };
        xads::sync::import_rates(&app.state, &[ecb]).await.unwrap();
        // Rows from 2026-03-02 on use ECB's rate (1 000 JPY = 6.6 USD); earlier ones keep what
        // they had: A's its own override, B's no conversion (they were stored unconverted).
        let march_2 = chrono::NaiveDate::from_ymd_opt(2026, 3, 2)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        for (tenant, rows, earlier) in [(&a.id, n, Some("api")), (&b.id, 500, None)] {
            let by_day: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT hour, fx_source, spend_usd FROM stats_hourly WHERE tenant_id = $1",
            )
            .bind(tenant)
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
            assert_eq!(by_day.len(), rows, "{db}");
            for (hour, source, usd) in &by_day {
                if *hour >= march_2 {
                    assert_eq!(source.as_deref(), Some("ecb"), "{db}: {hour}");
                    assert_eq!(usd.as_deref(), Some("6.600000"), "{db}: {hour}");
                } else {
                    assert_eq!(source.as_deref(), earlier, "{db}: {hour}");
                }
            }
            assert!(
                by_day.iter().any(|(h, _, _)| *h < march_2),
                "{db}: no row before the rate"
            );
        }
    }
}

/// Clicks Connect on the Integrations page as `cookie`'s session; returns the query X sends
/// back to the callback after approval.
async fn click_connect(app: &TestApp, cookie: &str) -> String {
    use crate::ui::{csrf_of, page, post_form};
    let (_, html) = page(app, cookie, "/integrations").await;
    let resp = post_form(
        app,
        cookie,
        "/integrations/x_ads/connect",
        &[("csrf", &csrf_of(&html)), ("method", "oauth2")],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let authorize = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    app.approve_at_x(&authorize).await
}

async fn callback_in(app: &TestApp, query: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = app
        .http
        .get(format!("{}/oauth/x_ads/callback?{query}", app.base));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

async fn tile_status(app: &TestApp, key: &str) -> String {
    let (_, tile) = app.get(key, "/api/v1/integrations").await;
    tile["data"][0]["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_connect_clicked_in_the_ui_completes_only_in_that_browser_session() {
    use crate::ui::login;
    let app = app_with(&[]).await;
    let key = app.tenant("Growth").await;
    let other_key = app.tenant("Someone else").await;
    let cookie = login(&app, &key).await;
    let other_cookie = login(&app, &other_key).await;
    let same_tenant_other_browser = login(&app, &key).await;

    // The approval lands in a browser without a session, or with another one: refused, nothing
    // stored for either tenant.
    for elsewhere in [
        None,
        Some(other_cookie.as_str()),
        Some(same_tenant_other_browser.as_str()),
    ] {
        let query = click_connect(&app, &cookie).await;
        let resp = callback_in(&app, &query, elsewhere).await;
        assert_eq!(resp.status(), 403, "{elsewhere:?}");
        let page = resp.text().await.unwrap();
        assert!(
            page.contains("started from another dashboard session"),
            "{page}"
        );
        assert_eq!(tile_status(&app, &key).await, "disconnected");
        assert_eq!(tile_status(&app, &other_key).await, "disconnected");
    }
    // The same browser session completes it.
    let query = click_connect(&app, &cookie).await;
    let resp = callback_in(&app, &query, Some(&cookie)).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/integrations?connected=x_ads");
    assert_eq!(tile_status(&app, &key).await, "connected");
    assert_eq!(tile_status(&app, &other_key).await, "disconnected");
}
