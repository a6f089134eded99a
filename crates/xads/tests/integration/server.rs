//! The service as a process would run it: bound on port 0, health endpoints, graceful shutdown.

use std::collections::HashMap;

use xads::app::Application;
use xads::config::Config;

fn config(database_url: &str, redis_url: Option<&str>) -> Config {
    let mut vars = HashMap::from([
        ("XADS_BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        ("XADS_FX_URL".to_owned(), "off".to_owned()),
    ]);
    if let Some(r) = redis_url {
        vars.insert("REDIS_URL".into(), r.into());
    }
    Config::from_vars(&vars).unwrap()
}

fn temp_sqlite_url() -> String {
    let dir = std::env::temp_dir().join("xads-tests");
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}/{}.db", dir.display(), rand::random::<u64>())
}

#[tokio::test]
async fn health_and_readiness_then_graceful_shutdown() {
    let app = Application::build(config(&temp_sqlite_url(), None))
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = rx.await;
    }));

    let http = crate::http_client();
    let health: serde_json::Value = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["database_backend"], "sqlite");
    assert_eq!(ready["redis"], "not_configured");

    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(http.get(format!("{base}/healthz")).send().await.is_err());
}

#[tokio::test]
async fn readiness_reports_redis_when_configured() {
    let url = xads::testing::redis_url();
    if xads::redis_conn::Redis::connect(&url).await.is_err() {
        xads::testing::skip_or_fail(&format!("no Redis at {url}"));
        return;
    }
    let app = Application::build(config(&temp_sqlite_url(), Some(&url)))
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    let server = tokio::spawn(app.run(std::future::pending()));
    let ready: serde_json::Value = crate::http_client()
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["redis"], "ok");
    server.abort();
}

#[tokio::test]
async fn a_bad_setting_fails_start_naming_the_variable() {
    let err = Application::build(config("sqlite:///nonexistent-dir/x/y.db", None))
        .await
        .err()
        .expect("cannot open a database in a missing directory");
    assert!(err.to_string().contains("database"), "{err}");
    let mut vars = HashMap::new();
    vars.insert("XADS_BIND".to_owned(), "nope".to_owned());
    assert_eq!(Config::from_vars(&vars).unwrap_err().var, "XADS_BIND");
}

#[tokio::test]
async fn metrics_count_calls_to_x_limiter_decisions_and_sync_health() {
    let (app, key) = crate::helpers::TestApp::live_connected(&xads::testing::sqlite_url()).await;
    let seed = app.fake.state().seed_info();
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            &key,
            &format!(
                "/api/v1/x_ads/accounts/{}/stats/sync?wait=true",
                seed.usd_account_id
            ),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, 200);
    let metrics_base = app.metrics_base.clone().expect("operators' listener bound");
    let resp = app
        .http
        .get(format!("{metrics_base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    let calls = text
        .lines()
        .find(|l| l.starts_with("xads_x_calls_total{") && l.contains("status=\"200\""))
        .unwrap_or_else(|| panic!("no X call counted:\n{text}"));
    let n: f64 = calls.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1.0, "{calls}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("xads_limiter_admitted_total ")),
        "{text}"
    );
    let lag = text
        .lines()
        .find(|l| l.starts_with("xads_sync_lag_seconds{") && l.contains(&seed.usd_account_id))
        .unwrap_or_else(|| panic!("no sync health:\n{text}"));
    assert!(lag.contains("tenant=\""), "{lag}");
    assert!(!text.contains(&key), "no API key in metrics");
}
