//! History at connect (quality.md, performance: "history at connect"; issue 18):
//! `cargo bench -p xads --bench history`.
//!
//! The in-process fake X with one account of 100 campaigns (one line item each) and 100 days
//! of history. The same 90 days are fetched twice, each by a freshly connected instance on its
//! own database: once by the synchronous path (`POST …/stats/sync {from, to}`: 7-day calls of
//! ≤ 20 ids) and once by X's asynchronous jobs (`POST …/stats/backfill {from, to}`: 90-day jobs
//! of ≤ 20 ids, polled, results downloaded). X calls are counted from the fake's ledger (bar:
//! jobs ≤ 1/10 of the synchronous path's calls); beside them, rows stored per second and the
//! peak heap above the baseline during each (a counting allocator in this binary).

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use xads::app::Application;
use xads::config::Config;
use xads_fake::{FakeConfig, FakeX, LedgerEntry};

mod common;

mod heap;

const DAYS: i64 = 90;

/// What one path cost.
struct Cost {
    /// Calls to X's API (`/12/…`), result-file downloads excluded.
    api_calls: usize,
    /// Of those, synchronous stats calls.
    stats_calls: usize,
    /// Job creates, polls and cancels.
    job_calls: usize,
    /// Result files downloaded (not API calls: a file URL that needs no credentials).
    downloads: usize,
    rows: u64,
    took: StdDuration,
    peak_heap: isize,
}

fn count(entries: &[LedgerEntry]) -> (usize, usize, usize, usize) {
    let api: Vec<&LedgerEntry> = entries
        .iter()
        .filter(|e| e.path.starts_with("/12/"))
        .collect();
    let stats = api
        .iter()
        .filter(|e| e.path.starts_with("/12/stats/accounts/"))
        .count();
    let jobs = api
        .iter()
        .filter(|e| e.path.starts_with("/12/stats/jobs/"))
        .count();
    let downloads = entries.len() - api.len();
    (api.len(), stats, jobs, downloads)
}

/// A connected instance on a fresh SQLite database; returns (base URL, key, account id).
async fn instance(fake: &FakeX) -> (String, String) {
    let fake_base = fake.base_url().as_str().trim_end_matches('/').to_owned();
    let vars = common::vars(
        &xads::testing::sqlite_url(),
        &fake_base,
        &[
            ("XADS_SYNC_INTERVAL", "off"),
            ("XADS_BACKFILL_DAYS", "0"),
            // The bench counts calls, not waits: a per-minute budget the runs never meet.
            ("X_ADS_RATE_LIMIT_PER_MINUTE", "10000"),
        ],
    );
    let mut config = Config::from_vars(&vars).expect("config");
    // Polls at X's pace would only add waiting here; calls are what is counted.
    config.leases.backfill_poll = StdDuration::from_millis(50);
    config.leases.backfill_poll_max = StdDuration::from_millis(400);
    let app = Application::build(config).await.expect("app");
    let base = format!("http://{}", app.local_addr());
    let db = app.state().db.clone();
    tokio::spawn(app.run(std::future::pending()));
    let (_, key) = xads::store::tenants::create(&db, "Bench", Utc::now())
        .await
        .expect("tenant");
    common::connect(&common::http(), &base, &key.0).await;
    (base, key.0)
}

/// Runs `start` (a POST answering `{…_id}`), then GETs `status_path/{id}?wait=true` until it is
/// no longer running; the ledger entries X received meanwhile and the final object.
async fn measured(
    fake: &FakeX,
    http: &reqwest::Client,
    key: &str,
    start: &str,
    body: Value,
    id_field: &str,
) -> (Vec<LedgerEntry>, Value, StdDuration, isize) {
    let before = fake.state().ledger().last().map_or(0, |e| e.seq);
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    let baseline = heap::mark();
    let started = Instant::now();
    let resp: Value = http
        .post(start)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("start body");
    let id = resp[id_field].as_str().unwrap_or_else(|| panic!("{resp}"));
    let last = loop {
        let b: Value = http
            .get(format!("{start}/{id}?wait=true"))
            .bearer_auth(key)
            .send()
            .await
            .expect("wait")
            .json()
            .await
            .expect("wait body");
        if b["status"] != "running" {
            break b;
        }
    };
    let took = started.elapsed();
    let peak = heap::peak_above(baseline);
    let entries = fake
        .state()
        .ledger()
        .into_iter()
        .filter(|e| e.seq > before)
        .collect();
    (entries, last, took, peak)
}

fn cost(entries: &[LedgerEntry], rows: u64, took: StdDuration, peak_heap: isize) -> Cost {
    let (api_calls, stats_calls, job_calls, downloads) = count(entries);
    Cost {
        api_calls,
        stats_calls,
        job_calls,
        downloads,
        rows,
        took,
        peak_heap,
    }
}

fn print(label: &str, c: &Cost) {
    println!(
        "{label}: {} X API calls ({} synchronous stats, {} job calls) + {} result downloads; {} rows in {:.1?} = {:.0} rows/s; peak heap above baseline {:.1} MB",
        c.api_calls,
        c.stats_calls,
        c.job_calls,
        c.downloads,
        c.rows,
        c.took,
        c.rows as f64 / c.took.as_secs_f64(),
        c.peak_heap as f64 / 1e6
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fake = FakeX::start(FakeConfig {
            campaigns_per_account: 100,
            line_items_per_campaign: 1,
            promoted_tweets_per_line_item: 1,
            history_days: DAYS + 10,
            ledger_capacity: 1_000_000,
            ..FakeConfig::default()
        })
        .await
        .expect("fake X");
        let account = fake.state().seed_info().usd_account_id;
        let to = (Utc::now() - Duration::days(1)).date_naive();
        let from = to - Duration::days(DAYS - 1);
        let window = json!({"from": from.to_string(), "to": to.to_string()});
        let http = common::http();
        println!("## History at connect: {DAYS} days × 100 campaigns (100 line items), SQLite");

        let (base, key) = instance(&fake).await;
        let stats = format!("{base}/api/v1/x_ads/accounts/{account}/stats");
        let (entries, run, took, peak) =
            measured(&fake, &http, &key, &format!("{stats}/sync"), window.clone(), "sync_id").await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let rows = run["counts"]["rows_upserted"].as_u64().unwrap_or(0);
        let sync = cost(&entries, rows, took, peak);
        print("synchronous path (7-day calls)", &sync);

        let (base, key) = instance(&fake).await;
        let stats = format!("{base}/api/v1/x_ads/accounts/{account}/stats");
        let (entries, run, took, peak) =
            measured(&fake, &http, &key, &format!("{stats}/backfill"), window, "backfill_id").await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let rows = run["progress"]["rows"].as_u64().unwrap_or(0);
        let jobs = cost(&entries, rows, took, peak);
        print("asynchronous jobs (90-day jobs)", &jobs);

        let ratio = jobs.api_calls as f64 / sync.api_calls as f64;
        let with_files = (jobs.api_calls + jobs.downloads) as f64 / sync.api_calls as f64;
        println!(
            "jobs / synchronous X calls = {ratio:.3} ({:.3} counting result downloads) [bar ≤ 0.10]: {}",
            with_files,
            if ratio <= 0.10 { "met" } else { "NOT met" }
        );
    });
}
