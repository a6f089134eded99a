//! Reports at 1 M stored rows (quality.md, performance: "reports at 1 M stored rows"):
//! `cargo bench -p xads --bench reports`.
//!
//! One account with 100 campaigns × 400 days of hourly rows (960 000 rows) on each backend
//! (SQLite; PostgreSQL when reachable). Side by side in one run, median of 5 each:
//! `GET …/stats?granularity=day` over 90 days for the 100 campaigns (also with the 100 ids
//! named), `granularity=total`, and the Reports page (its day and total aggregates, names,
//! chart and table) through the running service over HTTP, against the same aggregate SQL
//! (`store::stats::aggregate_sql`) run directly on the database with the native driver (bar:
//! ≤ 2 × its time); the page both from its cache and with the account's stats version moved
//! before each request (figures read again). Then 10 users reloading the page for 5 s beside
//! `/healthz` (bar: p99 < 200 ms), also while the last day is written every second. Then the
//! CSV export of hourly rows over 30 and over 120 days, with the peak
//! heap above the baseline (a counting allocator in this binary): flat means streamed.

use std::collections::HashMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::StreamExt as _;
use xads::app::Application;
use xads::config::Config;
use xads::store::stats::{self, Aggregate, Bucketing, StatRow};
use xads::store::{connections, sessions, tenants};
use xads_client::Secret;
use xads_client::vocab::{COLUMNS, Placement, StatsEntityType};

mod heap;

/// A measured target: label, URL, auth header, the aggregates it runs (the reference), and
/// whether the account's stats version is moved before each request (so the Reports page
/// cannot answer from its cache: the page right after a write, without the write's own cost).
type Case<'a> = (&'a str, String, (&'a str, &'a str), Vec<Aggregate>, bool);

const CAMPAIGNS: usize = 100;
const DAYS: i64 = 400;
const ACCOUNT: &str = "18ce54d4x5t";
const RUNS: usize = 5;

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc()
}

fn campaign(i: usize) -> String {
    format!("c{:05}", i)
}

/// 100 campaigns × 24 hours of one day.
fn day_rows(day: NaiveDate) -> Vec<StatRow> {
    let mut rows = Vec::with_capacity(CAMPAIGNS * 24);
    for c in 0..CAMPAIGNS {
        for h in 0..24 {
            let v = (c * 31 + h * 7) as i64 + day.to_epoch_days() as i64;
            let spend = v * 10_000;
            rows.push(StatRow {
                account_id: ACCOUNT.into(),
                entity: StatsEntityType::Campaign,
                entity_id: campaign(c),
                hour: midnight(day) + Duration::hours(h as i64),
                placement: Placement::AllOnTwitter,
                values: std::array::from_fn(|i| {
                    Some(if COLUMNS[i].micros {
                        spend
                    } else {
                        v + i as i64
                    })
                }),
                currency: "EUR".into(),
                fx: Some(stats::Fx {
                    rate: "1.0854".parse().unwrap(),
                    date: day,
                    source: "ecb".into(),
                    spend_usd: xads::fx::spend_usd(spend, "1.0854".parse().unwrap()),
                }),
            });
        }
    }
    rows
}

fn median(mut v: Vec<StdDuration>) -> StdDuration {
    v.sort();
    v[v.len() / 2]
}

/// The aggregate run directly on the database with the native driver (an open connection, the
/// rows fetched and dropped): the reference.
///
/// `rolled`: the roll-up's SQL over `stats_daily` (`stats::aggregate_daily_sql`, whole UTC days:
/// the bench's account is in UTC) instead of the hourly rows'.
async fn direct(url: &str, q: &Aggregate, rolled: bool) -> StdDuration {
    let backend = if url.starts_with("postgres") {
        xads::db::Backend::Postgres
    } else {
        xads::db::Backend::Sqlite
    };
    let (sql, lo, hi) = if rolled {
        let day = |t: DateTime<Utc>| t.timestamp_millis().div_euclid(86_400_000);
        (stats::aggregate_daily_sql(q), day(q.from), day(q.to))
    } else {
        (
            stats::aggregate_sql(q, backend),
            q.from.timestamp_millis(),
            q.to.timestamp_millis(),
        )
    };
    macro_rules! run_on {
        ($conn:ty) => {{
            let mut conn = <$conn as sqlx::Connection>::connect(url).await.unwrap();
            let started = Instant::now();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&q.tenant_id)
                .bind(&q.account_id)
                .bind(q.entity.as_str())
                .bind(lo)
                .bind(hi);
            for id in &q.ids {
                query = query.bind(id);
            }
            let rows = query.fetch_all(&mut conn).await.unwrap();
            assert!(!rows.is_empty());
            started.elapsed()
        }};
    }
    if url.starts_with("postgres") {
        run_on!(sqlx::PgConnection)
    } else {
        run_on!(sqlx::SqliteConnection)
    }
}

async fn timed_get(http: &reqwest::Client, url: &str, auth: (&str, &str)) -> (StdDuration, usize) {
    let started = Instant::now();
    let resp = http
        .get(url)
        .header(auth.0, auth.1)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let body = resp.bytes().await.expect("body");
    assert!(status.is_success(), "{url}: {status}");
    (started.elapsed(), body.len())
}

async fn run(name: &str, db_url: String) {
    let vars: HashMap<String, String> = [
        ("XADS_BIND", "127.0.0.1:0".to_owned()),
        ("XADS_RUNNER_INTERVAL", "off".to_owned()),
        ("DATABASE_URL", db_url.clone()),
        ("X_ADS_CLIENT_ID", "fake-client-id".to_owned()),
        ("X_ADS_CLIENT_SECRET", "fake-client-secret".to_owned()),
        (
            "XADS_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let app = Application::build(Config::from_vars(&vars).expect("config"))
        .await
        .expect("app");
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    tokio::spawn(app.run(std::future::pending()));
    let db = state.db.clone();
    let (tenant, key) = tenants::create(&db, "Bench", Utc::now()).await.unwrap();
    connections::save_grant(
        &db,
        &state.sealer,
        &tenant.id,
        connections::Method::OAuth2,
        "ads.read ads.write offline.access",
        connections::NewTokens {
            access: &Secret::new("bench-access"),
            refresh: None,
            expires_at: Some(Utc::now() + Duration::hours(2)),
        },
        Utc::now(),
    )
    .await
    .unwrap();
    connections::replace_ad_accounts(
        &db,
        &tenant.id,
        &[connections::AdAccount {
            id: ACCOUNT.into(),
            name: "Bench".into(),
            timezone: "UTC".into(),
            currency: Some("EUR".into()),
            approval_status: None,
        }],
        Utc::now(),
    )
    .await
    .unwrap();
    let seeding = Instant::now();
    for d in 0..DAYS {
        let rows = day_rows(first_day() + Duration::days(d));
        stats::upsert(&db, &tenant.id, &rows, Utc::now())
            .await
            .unwrap();
    }
    let stored = stats::count(&db, &tenant.id, ACCOUNT).await.unwrap();
    if db.backend() == xads::db::Backend::Postgres {
        sqlx::query("ANALYZE stats_hourly")
            .execute(db.pool())
            .await
            .unwrap();
    } else {
        sqlx::query("ANALYZE").execute(db.pool()).await.unwrap();
    }
    println!(
        "### {name}: {stored} rows stored ({CAMPAIGNS} campaigns × {DAYS} days × 24 h) in {:.1?}",
        seeding.elapsed()
    );

    let http = reqwest::Client::new();
    let bearer = format!("Bearer {}", key.0);
    let session = sessions::create(&db, &tenant.id, Utc::now()).await.unwrap();
    let cookie = format!("xads_session={session}");
    let to_day = first_day() + Duration::days(DAYS - 1);
    let from_day = to_day - Duration::days(89);
    let agg = |bucketing: Bucketing, ids: Vec<String>| Aggregate {
        tenant_id: tenant.id.clone(),
        account_id: ACCOUNT.into(),
        entity: StatsEntityType::Campaign,
        ids,
        from: midnight(from_day),
        to: midnight(to_day + Duration::days(1)),
        bucketing,
        segment: None,
    };
    let all_ids: Vec<String> = (0..CAMPAIGNS).map(campaign).collect();
    let page_url = format!("{base}/reports?account={ACCOUNT}&from={from_day}&to={to_day}");
    // Moves the account's stats version as a write does (without writing rows).
    let bump = || {
        sqlx::query("UPDATE stats_versions SET version = version + 1 WHERE tenant_id = $1")
            .bind(tenant.id.clone())
            .execute(db.pool())
    };
    let stats_url = format!(
        "{base}/api/v1/x_ads/accounts/{ACCOUNT}/stats?entity=campaign&from={from_day}&to={to_day}"
    );
    let cases: Vec<Case> = vec![
        (
            "GET …/stats?granularity=day, 90 days, 100 campaigns",
            format!("{stats_url}&granularity=day"),
            ("authorization", bearer.as_str()),
            vec![agg(Bucketing::Day(vec![(0, 0)]), vec![])],
            false,
        ),
        (
            "GET …/stats?granularity=day&ids=<the 100>",
            format!("{stats_url}&granularity=day&ids={}", all_ids.join(",")),
            ("authorization", bearer.as_str()),
            vec![agg(Bucketing::Day(vec![(0, 0)]), all_ids.clone())],
            false,
        ),
        (
            "GET …/stats?granularity=total, 90 days",
            format!("{stats_url}&granularity=total"),
            ("authorization", bearer.as_str()),
            vec![agg(Bucketing::Total, vec![])],
            false,
        ),
        (
            "Reports page (day + total aggregates), 90 days, figures cached",
            page_url.clone(),
            ("cookie", cookie.as_str()),
            vec![
                agg(Bucketing::Day(vec![(0, 0)]), vec![]),
                agg(Bucketing::Total, vec![]),
            ],
            false,
        ),
        (
            "Reports page (day + total aggregates), 90 days, not cached (version moved before each)",
            page_url.clone(),
            ("cookie", cookie.as_str()),
            vec![
                agg(Bucketing::Day(vec![(0, 0)]), vec![]),
                agg(Bucketing::Total, vec![]),
            ],
            true,
        ),
    ];
    // The writes above only marked their days stale; the first read settles the roll-up (here
    // all 400 days at once: the account's first roll-up). A sync settles what it wrote itself.
    let (settle, _) = timed_get(&http, &cases[2].1, cases[2].2).await;
    println!("first read after seeding, settling the roll-up of {DAYS} days: {settle:.1?}");
    let url = db_url.clone();
    for (label, target, auth, refs, uncached) in &cases {
        let (mut ours, mut theirs, mut rolled) = (Vec::new(), Vec::new(), Vec::new());
        let mut bytes = 0;
        // One warm-up of each, then interleaved runs.
        let _ = timed_get(&http, target, *auth).await;
        for _ in 0..RUNS {
            if *uncached {
                bump().await.unwrap();
            }
            let (t, n) = timed_get(&http, target, *auth).await;
            ours.push(t);
            bytes = n;
            let (mut d, mut r) = (StdDuration::ZERO, StdDuration::ZERO);
            for q in refs {
                d += direct(&url, q, false).await;
                r += direct(&url, q, true).await;
            }
            theirs.push(d);
            rolled.push(r);
        }
        let (o, t, r) = (median(ours), median(theirs), median(rolled));
        println!(
            "{label}: {o:.1?} ({bytes} bytes) vs the same aggregate over the hourly rows on the database {t:.1?} = {:.2} ×  [bar ≤ 2]; vs the roll-up's own SQL on the database {r:.1?} = {:.2} ×",
            o.as_secs_f64() / t.as_secs_f64(),
            o.as_secs_f64() / r.as_secs_f64()
        );
    }

    // The page a user waits on: 10 users on the Reports page at once, each reloading it as soon
    // as it arrives, beside `/healthz` under the same load (bar: p99 < 200 ms). Then the same
    // while a writer stores the last day's rows again every second (a sync revising it, far more
    // often than the hourly one does): each write moves the version, so the next views read
    // the figures again.
    let last_day = day_rows(to_day);
    for (label, target, auth, writing) in [
        ("GET /healthz", format!("{base}/healthz"), None, false),
        (
            "Reports page, 90 days, 100 campaigns",
            page_url.clone(),
            Some(("cookie", cookie.as_str())),
            false,
        ),
        (
            "GET /healthz, while the last day is written every second",
            format!("{base}/healthz"),
            None,
            true,
        ),
        (
            "Reports page, while the last day is written every second",
            page_url.clone(),
            Some(("cookie", cookie.as_str())),
            true,
        ),
    ] {
        let writer = writing.then(|| {
            let (db, tenant, rows) = (db.clone(), tenant.id.clone(), last_day.clone());
            tokio::spawn(async move {
                let mut writes = 0;
                let deadline = Instant::now() + LOAD_FOR;
                while Instant::now() < deadline {
                    stats::upsert(&db, &tenant, &rows, Utc::now())
                        .await
                        .unwrap();
                    writes += 1;
                    tokio::time::sleep(StdDuration::from_secs(1)).await;
                }
                writes
            })
        });
        let (p50, p99, n) = concurrent(&http, &target, auth, USERS, LOAD_FOR).await;
        let writes = match writer {
            Some(w) => format!(", {} writes", w.await.unwrap()),
            None => String::new(),
        };
        println!(
            "{label}, {USERS} concurrent users for {LOAD_FOR:?}: {n} answers{writes}, p50 {p50:.1?}, p99 {p99:.1?}  [bar p99 < 200 ms for the page]; load average {}",
            load_average()
        );
    }

    // CSV export of hourly rows: peak heap above the baseline, for 30 and for 120 days.
    for days in [30, 120] {
        let from = to_day - Duration::days(days - 1);
        let url = format!(
            "{base}/api/v1/x_ads/accounts/{ACCOUNT}/stats?entity=campaign&from={from}&to={to_day}&granularity=hour"
        );
        tokio::time::sleep(StdDuration::from_millis(200)).await;
        let baseline = heap::mark();
        let started = Instant::now();
        let resp = http
            .get(&url)
            .header("authorization", &bearer)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let mut body = resp.bytes_stream();
        let (mut n, mut lines) = (0usize, 0usize);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.unwrap();
            n += chunk.len();
            lines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        let peak = heap::peak_above(baseline);
        println!(
            "CSV export, hourly, {days} days: {} lines, {:.1} MB in {:.1?}; peak heap above baseline {:.2} MB",
            lines - 1,
            n as f64 / 1e6,
            started.elapsed(),
            peak as f64 / 1e6
        );
    }
    db.close().await;
}

/// The machine's load average (1, 5, 15 min), for the record beside the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Concurrent users of the Reports page (issue 17, item 5).
const USERS: usize = 10;
/// How long they keep reloading it.
const LOAD_FOR: StdDuration = StdDuration::from_secs(5);

/// `users` clients each getting `url` again as soon as the answer is read, for `run`; the p50
/// and p99 latency and how many answers (every one a success, else it panics).
async fn concurrent(
    http: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
    users: usize,
    run: StdDuration,
) -> (StdDuration, StdDuration, usize) {
    let deadline = Instant::now() + run;
    let auth = auth.map(|(h, v)| (h.to_owned(), v.to_owned()));
    let tasks: Vec<_> = (0..users)
        .map(|_| {
            let (http, url, auth) = (http.clone(), url.to_owned(), auth.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let mut req = http.get(&url);
                    if let Some((h, v)) = &auth {
                        req = req.header(h.as_str(), v.as_str());
                    }
                    let resp = req.send().await.expect("answer");
                    assert!(resp.status().is_success(), "{url}: {}", resp.status());
                    resp.bytes().await.expect("body");
                    times.push(started.elapsed());
                }
                times
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (pct(0.50), pct(0.99), all.len())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        println!("## Reports at 1 M stored rows");
        run("sqlite", xads::testing::sqlite_url()).await;
        if let Some(url) = xads::testing::postgres_schema_url().await {
            run("postgres", url).await;
        }
    });
}
