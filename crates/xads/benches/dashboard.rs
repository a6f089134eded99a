//! Dashboard read benchmark (quality.md, performance: dashboard reads):
//! `cargo bench -p xads --bench dashboard`.
//!
//! `GET /api/v1/x_ads/accounts/{id}/campaigns?count=100` (100 campaigns stored, bearer auth, SQLite)
//! against an axum hello-world, side by side in one run, under the same load generator: a small
//! tokio one in this file (50 keep-alive HTTP/1.1 connections, one request in flight each, for a
//! fixed time). The servers run on a one-worker runtime on their own thread, the load generator
//! on another, so both targets get the same share of the 2 cores. Reported: requests/s of each,
//! their ratio (bar ≥ 0.3) and the p99 latency of the dashboard route (bar < 10 ms), on SQLite and
//! (when reachable) PostgreSQL, with `/healthz` and an authenticated one-row route beside them to
//! show where the time goes, and the floor of any read that asks the database: a bare axum route
//! doing one `SELECT 1` per request, through the service's pool and through sqlx's native one
//! (as sqlx configures it by default, pinging a connection before each use, and without that
//! ping, to show what the extra round trip costs).

use std::time::{Duration, Instant};

use xads::app::Application;
use xads::config::Config;
use xads_fake::{FakeConfig, FakeX};

mod common;

const CONNECTIONS: usize = 50;
const RUN: Duration = Duration::from_secs(5);
const WARMUP: Duration = Duration::from_secs(1);

/// Starts the service (dry-run, on `db_url`) with 100 campaigns on `rt`; returns (base URL,
/// campaigns URL, API key).
fn start_service(rt: &tokio::runtime::Runtime, db_url: String) -> (String, String, String) {
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fake = FakeX::start(FakeConfig::default()).await.expect("fake X");
        let fake_base = fake.base_url().as_str().trim_end_matches('/').to_owned();
        // One dashboard backend, one API key, 50 requests in flight: above the default of
        // 32 per key the excess would be 429s, which are not the reads this measures.
        let concurrency = (2 * CONNECTIONS).to_string();
        let vars = common::vars(
            &db_url,
            &fake_base,
            &[("XADS_TENANT_CONCURRENCY", concurrency.as_str())],
        );
        let app = Application::build(Config::from_vars(&vars).expect("config"))
            .await
            .expect("app");
        let base = format!("http://{}", app.local_addr());
        let db = app.state().db.clone();
        tokio::spawn(app.run(std::future::pending()));
        let http = common::http();
        let (_, key) = xads::store::tenants::create(&db, "Bench", chrono::Utc::now())
            .await
            .expect("tenant");
        let key = key.0;
        common::connect(&http, &base, &key).await;
        let seed = fake.state().seed_info();
        let account = seed.account(&seed.usd_account_id).unwrap().clone();
        let list = format!(
            "{base}/api/v1/x_ads/accounts/{}/campaigns?count=100",
            account.id
        );
        let (_, existing) = {
            let r = http.get(&list).bearer_auth(&key).send().await.unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        };
        let have = existing["data"].as_array().map_or(0, Vec::len);
        for i in have..100 {
            let r = http
                .post(format!(
                    "{base}/api/v1/x_ads/accounts/{}/campaigns",
                    account.id
                ))
                .bearer_auth(&key)
                .json(&serde_json::json!({"name": format!("Bench campaign {i}"),
                    "funding_instrument_id": account.funding_instrument_id,
                    "daily_budget_amount_local_micro": 1_000_000 + i as i64}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "seeding campaigns");
        }
        let r: serde_json::Value = http
            .get(&list)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            r["data"].as_array().map_or(0, Vec::len),
            100,
            "the page has 100 rows"
        );
        // Keep the fake alive for the process (sessions may look at it).
        std::mem::forget(fake);
        (base, list, key)
    })
}

/// The axum hello-world on `rt`; returns its URL.
fn start_hello(rt: &tokio::runtime::Runtime) -> String {
    serve_static(rt, "Hello, World!".into(), "text/plain; charset=utf-8")
}

/// A bare axum route on `rt` answering `body` from memory; returns its URL.
fn serve_static(
    rt: &tokio::runtime::Runtime,
    body: bytes::Bytes,
    content_type: &'static str,
) -> String {
    rt.block_on(async {
        let route = axum::Router::new().route(
            "/",
            axum::routing::get(move || {
                let body = body.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, content_type)], body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, route).await });
        url
    })
}

/// The floor of any read that asks the database: a bare axum route on `rt` answering after one
/// `SELECT 1` through `pool` (the service's own `Any` pool, or a native one); returns its URL.
fn serve_select_one<DB>(rt: &tokio::runtime::Runtime, pool: sqlx::Pool<DB>) -> String
where
    DB: sqlx::Database,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    rt.block_on(async {
        let route = axum::Router::new().route(
            "/",
            axum::routing::get(move || {
                let pool = pool.clone();
                async move {
                    let one: i64 = sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
                        .fetch_one(&pool)
                        .await
                        .expect("SELECT 1");
                    one.to_string()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, route).await });
        url
    })
}

/// The `SELECT 1` floors of one backend: through xads' own pool (`Db`, the `Any` driver with
/// the service's settings) and through sqlx's native pool of the same size.
fn select_one_floors(rt: &tokio::runtime::Runtime, url: &str) -> (String, String, String) {
    let db = rt
        .block_on(xads::db::Db::connect(url))
        .expect("the service's pool");
    let ours = serve_select_one(rt, db.pool().clone());
    // The native pool twice: as configured by default (a ping before each use, as ours), and
    // without that ping (`test_before_acquire(false)`), to show what the extra round trip costs.
    let native = |test_before_acquire: bool| {
        if url.starts_with("postgres") {
            let pool = rt
                .block_on(
                    sqlx::postgres::PgPoolOptions::new()
                        .max_connections(10)
                        .test_before_acquire(test_before_acquire)
                        .connect(url),
                )
                .expect("native PostgreSQL pool");
            serve_select_one(rt, pool)
        } else {
            let pool = rt
                .block_on(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(8)
                        .test_before_acquire(test_before_acquire)
                        .connect(url),
                )
                .expect("native SQLite pool");
            serve_select_one(rt, pool)
        }
    };
    (ours, native(true), native(false))
}

/// The campaigns page's bytes, as the service answers them.
fn page_bytes(rt: &tokio::runtime::Runtime, list: &str, key: &str) -> bytes::Bytes {
    rt.block_on(async {
        reqwest::Client::new()
            .get(list)
            .bearer_auth(key)
            .send()
            .await
            .expect("page")
            .bytes()
            .await
            .expect("page body")
    })
}

struct Load {
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    errors: u64,
}

/// 50 connections, each one request at a time, for `RUN` after `WARMUP`.
async fn load(url: &str, key: Option<&str>) -> Load {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let deadline = measure_from + RUN;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, key) = (client.clone(), url.to_owned(), key.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            loop {
                let t = Instant::now();
                if t >= deadline {
                    break;
                }
                let mut req = client.get(&url);
                if let Some(k) = &key {
                    req = req.bearer_auth(k);
                }
                let ok = match req.send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if t >= measure_from {
                    if ok {
                        lat.push(t.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Load {
        rps: all.len() as f64 / RUN.as_secs_f64(),
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        errors,
    }
}

/// Writes one campaign of the mirror (as a refresh does, through the store) every `every`
/// until `stop`: each write moves the tenant's mirror version, so the next read of the page
/// reads it from the database again.
async fn write_mirror(
    db_url: String,
    key: String,
    every: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> u64 {
    use xads::store::entities;
    let db = xads::db::Db::connect(&db_url).await.expect("writer's pool");
    let tenant = xads::store::tenants::by_api_key(&db, &key)
        .await
        .expect("tenant")
        .expect("the bench's tenant");
    let accounts = xads::store::connections::ad_accounts(&db, &tenant.id)
        .await
        .expect("accounts");
    let mut campaign = None;
    for a in &accounts {
        let first =
            entities::list_raw(&db, &tenant.id, &a.id, entities::Kind::Campaign, None, 0, 1)
                .await
                .expect("page")
                .expect("the tenant's account");
        if let Some(doc) = serde_json::from_str::<serde_json::Value>(&format!(
            "[{}]",
            std::str::from_utf8(&first.joined).expect("UTF-8")
        ))
        .expect("JSON")
        .get(0)
        {
            let id = doc["id"].as_str().expect("an id");
            campaign = entities::get(&db, &tenant.id, &a.id, entities::Kind::Campaign, id)
                .await
                .expect("campaign");
            break;
        }
    }
    let campaign = campaign.expect("a campaign to write");
    let mut writes = 0;
    while !*stop.borrow() {
        entities::upsert(&db, &tenant.id, &campaign, chrono::Utc::now())
            .await
            .expect("write");
        writes += 1;
        tokio::time::sleep(every).await;
    }
    writes
}

fn print(name: &str, l: &Load, base: f64) {
    println!(
        "{name:<34} {:>8.0} req/s  ({:.3} of hello-world)  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
        l.rps,
        l.rps / base,
        l.p50_us as f64 / 1000.0,
        l.p99_us as f64 / 1000.0,
        l.errors
    );
}

fn main() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let hello = start_hello(&server_rt);
    let sqlite_url = xads::testing::sqlite_url();
    let (base, list, key) = start_service(&server_rt, sqlite_url.clone());
    let pg_url = server_rt.block_on(xads::testing::postgres_schema_url());
    let pg = pg_url.map(|url| (url.clone(), start_service(&server_rt, url)));
    let mut services = vec![("SQLite", sqlite_url, list.clone(), key.clone())];
    if let Some((url, (_, list, key))) = &pg {
        services.push(("PostgreSQL", url.clone(), list.clone(), key.clone()));
    }
    // The ceiling: the same page's bytes answered from memory by a bare axum route, so the
    // share of the bar that is HTTP moving the page's bytes (not the service) shows.
    let body = page_bytes(&server_rt, &list, &key);
    let ceiling = serve_static(&server_rt, body.clone(), "application/json");
    let load_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("load runtime");
    // The floors on the services' own databases (a `SELECT 1` reads no table).
    let floors: Vec<_> = services
        .iter()
        .map(|(name, url, _, _)| (*name, select_one_floors(&server_rt, url)))
        .collect();
    let healthz = format!("{base}/healthz");
    let tiles = format!("{base}/api/v1/integrations");
    let (h, c, z, t, ours, ours_pg, floors, written, h2) = load_rt.block_on(async {
        let h = load(&hello, None).await;
        let c = load(&ceiling, None).await;
        let z = load(&healthz, None).await;
        let t = load(&tiles, Some(&key)).await;
        let o = load(&list, Some(&key)).await;
        let p = match &pg {
            Some((_, (_, list, key))) => Some(load(list, Some(key)).await),
            None => None,
        };
        let mut f = Vec::new();
        for (name, (ours, native, unpinged)) in &floors {
            f.push((
                *name,
                load(ours, None).await,
                load(native, None).await,
                load(unpinged, None).await,
            ));
        }
        // The same page while the mirror is written 10 times a second (a miss after each).
        let mut written = Vec::new();
        for (name, db_url, list, key) in &services {
            let (tx, rx) = tokio::sync::watch::channel(false);
            let writer = tokio::spawn(write_mirror(
                db_url.clone(),
                key.clone(),
                Duration::from_millis(100),
                rx,
            ));
            let l = load(list, Some(key)).await;
            tx.send(true).unwrap();
            written.push((*name, l, writer.await.unwrap()));
        }
        // Hello-world again, last: the ratios take the higher of its two runs.
        let h2 = load(&hello, None).await;
        (h, c, z, t, o, p, f, written, h2)
    });
    println!(
        "## Dashboard reads ({CONNECTIONS} connections, {}s each, same tokio load generator)",
        RUN.as_secs()
    );
    print("axum hello-world, first", &h, h.rps);
    print("axum hello-world, last", &h2, h.rps);
    // The higher of the two hello-world runs is the reference (the harder bar).
    let h = if h2.rps > h.rps { h2 } else { h };
    print(
        &format!("axum, the page's {} bytes static", body.len()),
        &c,
        h.rps,
    );
    print("GET /healthz (our router)", &z, h.rps);
    for (name, ours, native, unpinged) in &floors {
        print(&format!("axum + SELECT 1, {name}, our pool"), ours, h.rps);
        print(&format!("axum + SELECT 1, {name}, native"), native, h.rps);
        print(
            &format!("axum + SELECT 1, {name}, native, no ping"),
            unpinged,
            h.rps,
        );
    }
    print("GET /api/v1/integrations (auth)", &t, h.rps);
    print("GET …/campaigns 100 rows, SQLite", &ours, h.rps);
    if let Some(p) = &ours_pg {
        print("GET …/campaigns 100 rows, Postgres", p, h.rps);
    }
    for (name, l, writes) in &written {
        print(&format!("GET …/campaigns, {name}, 10 writes/s"), l, h.rps);
        println!("  ({writes} mirror writes during that run)");
    }
    let mut backends = vec![("SQLite", &ours)];
    if let Some(p) = &ours_pg {
        backends.push(("PostgreSQL", p));
    }
    for (name, l) in backends {
        let ratio = l.rps / h.rps;
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        println!(
            "{name}: campaigns / hello-world = {ratio:.3} (bar ≥ 0.30): {}; p99 {:.2} ms (bar < 10 ms): {}; {:.2} of the static ceiling",
            met(ratio >= 0.3),
            l.p99_us as f64 / 1000.0,
            met(l.p99_us < 10_000),
            l.rps / c.rps,
        );
    }
    server_rt.shutdown_timeout(Duration::from_secs(1));
}
