//! Memory benchmark (quality.md, performance: memory): `cargo bench -p xads --bench memory`.
//!
//! Runs the real `xads serve` (the release binary) on SQLite and reads its resident set from
//! `/proc/<pid>/status`:
//! 1. idle: started, migrated, listening, one scheduler and runner loop, after a few seconds —
//!    bar < 50 MB;
//! 2. 10 000 ad accounts tracked: a tenant connected through the fake X, 10 000 ad accounts seeded
//!    into the database directly, then the service reads them all (`GET /api/v1/x_ads/accounts`,
//!    10 000 rows, five times) — VmRSS after and the peak (VmHWM) — bar < 300 MB.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use xads_fake::{FakeConfig, FakeX};

const ACCOUNTS: usize = 10_000;

fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

async fn run() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeX::start(FakeConfig::default()).await.expect("fake X");
    let fake_base = fake.base_url().as_str().trim_end_matches('/').to_owned();
    let db_url = xads::testing::sqlite_url();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let vars: HashMap<String, String> = [
        ("XADS_BIND", format!("127.0.0.1:{port}")),
        ("DATABASE_URL", db_url.clone()),
        ("XADS_FX_URL", "off".to_owned()),
        ("X_ADS_CLIENT_ID", "fake-client-id".to_owned()),
        ("X_ADS_CLIENT_SECRET", "fake-client-secret".to_owned()),
        (
            "X_ADS_REDIRECT_URI",
            "http://127.0.0.1:8080/oauth/x_ads/callback".to_owned(),
        ),
        ("X_ADS_API_BASE_URL", fake_base.clone()),
        ("X_API_BASE_URL", fake_base.clone()),
        (
            "X_OAUTH_AUTHORIZE_URL",
            format!("{fake_base}/i/oauth2/authorize"),
        ),
        (
            "XADS_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
        ),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let db = xads::db::Db::connect(&db_url).await.expect("db");
    db.migrate(chrono::Utc::now()).await.expect("migrate");
    let (tenant, key) = xads::store::tenants::create(&db, "Bench", chrono::Utc::now())
        .await
        .expect("tenant");
    let key = key.0;

    let child = Command::new(env!("CARGO_BIN_EXE_xads"))
        .arg("serve")
        .env_remove("REDIS_URL")
        .envs(&vars)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xads serve");
    let serve = Serve(child);
    let pid = serve.0.id();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut up = false;
    for _ in 0..300 {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "xads serve never answered");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = status_kb(pid, "VmRSS:");

    // Connect, then 10 000 ad accounts.
    let started: serde_json::Value = http
        .post(format!("{base}/api/v1/integrations/x_ads/connect"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at_x = http
        .get(started["authorize_url"].as_str().unwrap())
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
    assert!(cb.status().is_redirection(), "connect failed");
    let now = chrono::Utc::now().timestamp_millis();
    let mut tx = db.pool().begin().await.unwrap();
    for i in 0..ACCOUNTS {
        sqlx::query(
            "INSERT INTO ad_accounts (tenant_id, id, name, timezone, currency, approval_status, deleted, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&tenant.id)
        .bind(format!("bench{i:06}"))
        .bind(format!("Bench account {i}"))
        .bind("America/Los_Angeles")
        .bind("USD")
        .bind("ACCEPTED")
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    // Every account listed, page by page (the list is paged), five times over.
    let mut listed = 0;
    for _ in 0..5 {
        listed = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut req = http
                .get(format!("{base}/api/v1/x_ads/accounts"))
                .bearer_auth(&key);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let body: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            listed += body["data"].as_array().map_or(0, Vec::len);
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
    }
    assert!(listed >= ACCOUNTS, "listed {listed} accounts");
    let _ = http
        .get(format!("{base}/api/v1/integrations"))
        .bearer_auth(&key)
        .send()
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tracked = status_kb(pid, "VmRSS:");
    let peak = status_kb(pid, "VmHWM:");

    println!("## Memory of `xads serve` (release, SQLite)");
    println!(
        "idle RSS:                        {:>7.1} MB (bar < 50 MB; {:.2} of the bar): {}",
        mb(idle),
        mb(idle) / 50.0,
        if mb(idle) < 50.0 { "met" } else { "NOT met" }
    );
    println!(
        "{ACCOUNTS} ad accounts tracked, RSS:  {:>7.1} MB, peak {:.1} MB (bar < 300 MB; {:.2} of the bar): {}",
        mb(tracked),
        mb(peak),
        mb(peak) / 300.0,
        if mb(peak) < 300.0 { "met" } else { "NOT met" }
    );
    drop(serve);
    fake.shutdown().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}
