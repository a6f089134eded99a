//! ECB's reference rates fetched by the service (`XADS_FX_URL`, PRODUCT.md §3), against a
//! stand-in of ECB's two files served on loopback: the daily file, the 90-day history when the
//! table has a gap, the rows they re-convert, `fx_stale`, one fetch per day across instances,
//! and ECB unreachable (a warning, nothing lost, retried the next day).

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use url::Url;
use xads::sync::ecb;
use xads_fake::{FakeConfig, FakeX};

use crate::helpers::{TestApp, vars_for};

/// The fake's frozen "now": before every bundled JPY rate, so JPY converts only with ECB's.
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-11-20T10:30:00Z")
        .unwrap()
        .to_utc()
}

fn ecb_file(days: &[(&str, &[(&str, &str)])]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">\n<gesmes:subject>Reference rates</gesmes:subject>\n<gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>\n<Cube>\n",
    );
    for (day, quotes) in days {
        xml.push_str(&format!("<Cube time='{day}'>\n"));
        for (c, r) in *quotes {
            xml.push_str(&format!("<Cube currency='{c}' rate='{r}'/>\n"));
        }
        xml.push_str("</Cube>\n");
    }
    xml.push_str("</Cube>\n</gesmes:Envelope>\n");
    xml
}

/// ECB's two files on loopback, counting requests; the daily file can be replaced.
#[derive(Clone, Default)]
struct StandIn {
    daily: Arc<Mutex<String>>,
    history: Arc<Mutex<String>>,
    daily_hits: Arc<AtomicUsize>,
    history_hits: Arc<AtomicUsize>,
}

impl StandIn {
    /// Serves the files under `/stats/eurofxref/` as ECB does; answers the daily file's URL.
    async fn start(&self) -> Url {
        async fn daily(State(s): State<StandIn>) -> String {
            s.daily_hits.fetch_add(1, Ordering::SeqCst);
            s.daily.lock().unwrap().clone()
        }
        async fn history(State(s): State<StandIn>) -> String {
            s.history_hits.fetch_add(1, Ordering::SeqCst);
            s.history.lock().unwrap().clone()
        }
        let app = axum::Router::new()
            .route("/stats/eurofxref/eurofxref-daily.xml", get(daily))
            .route("/stats/eurofxref/eurofxref-hist-90d.xml", get(history))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Url::parse(&format!(
            "http://{addr}/stats/eurofxref/eurofxref-daily.xml"
        ))
        .unwrap()
    }
}

/// A loopback URL nothing listens on: ECB unreachable.
async fn unreachable_url() -> Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    Url::parse(&format!(
        "http://127.0.0.1:{port}/stats/eurofxref/eurofxref-daily.xml"
    ))
    .unwrap()
}

async fn jpy_rows(app: &TestApp, key: &str, account: &str) -> Vec<Value> {
    let (status, body) = app
        .get(
            key,
            &format!(
                "/api/v1/x_ads/accounts/{account}/stats?entity=campaign&from=2024-11-01&to=2024-11-21&granularity=hour"
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

fn row_date(r: &Value) -> NaiveDate {
    DateTime::parse_from_rfc3339(r["start"].as_str().unwrap())
        .unwrap()
        .date_naive()
}

/// The service with its clock on the fake's, connected, JPY synced for a week (no rate yet).
async fn connected(db: &str, extra: &[(&str, String)]) -> (TestApp, String, String) {
    let fake = FakeX::start(FakeConfig {
        start_time: Some(t0()),
        history_days: 20,
        ..FakeConfig::default()
    })
    .await
    .expect("fake X");
    let mut vars = vars_for(db, &fake);
    for (k, v) in extra {
        vars.insert((*k).to_owned(), v.clone());
    }
    let app = TestApp::spawn_with(fake, &vars).await;
    app.state.clock.advance(t0() - Utc::now());
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    let account = app.fake.state().seed_info().jpy_account_id;
    let (status, run) = app
        .send(
            Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{account}/stats/sync?wait=true"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, run["status"].as_str()),
        (200, Some("succeeded")),
        "{run}"
    );
    (app, key, account)
}

const QUOTES_1104: &[(&str, &str)] = &[("USD", "1.0800"), ("JPY", "160.00")];
const QUOTES_1118: &[(&str, &str)] = &[("USD", "1.0500"), ("JPY", "150.00")];
const QUOTES_1119: &[(&str, &str)] = &[("USD", "1.0400"), ("JPY", "160.00")];
const QUOTES_1121: &[(&str, &str)] = &[("USD", "1.0500"), ("JPY", "160.00")];

#[tokio::test]
async fn ecb_daily_and_history_convert_rows_once_a_day_and_an_outage_loses_nothing() {
    for db in xads::testing::all_backend_urls().await {
        let (app, key, account) = connected(&db, &[]).await;
        let services = &app.state.services;
        let before = jpy_rows(&app, &key, &account).await;
        assert!(before.len() > 24, "a week of JPY hours");
        assert!(
            before.iter().all(|r| r["spend_usd"].is_null()),
            "no JPY rate yet"
        );

        // ECB unreachable: a failed day, nothing stored or changed; not retried the same day.
        let down = ecb::daily(services, &unreachable_url().await, "instance-a")
            .await
            .unwrap()
            .expect("the day's lease is free");
        assert!(
            matches!(down, Err(ecb::FetchError::Unreachable { .. })),
            "{down:?}"
        );
        assert_eq!(jpy_rows(&app, &key, &account).await, before);
        let days = xads::store::fx_fetches::recent(&app.state.db, 5)
            .await
            .unwrap();
        assert_eq!(days.len(), 1);
        assert!(
            days[0].done
                && days[0]
                    .outcome
                    .as_deref()
                    .unwrap()
                    .starts_with("failed: fetching eurofxref-daily.xml"),
            "{days:?}"
        );
        let stand_in = StandIn::default();
        let url = stand_in.start().await;
        *stand_in.daily.lock().unwrap() = ecb_file(&[("2024-11-21", QUOTES_1121)]);
        *stand_in.history.lock().unwrap() = ecb_file(&[
            ("2024-11-19", QUOTES_1119),
            ("2024-11-18", QUOTES_1118),
            ("2024-11-04", QUOTES_1104),
        ]);
        assert!(
            ecb::daily(services, &url, "instance-b")
                .await
                .unwrap()
                .is_none(),
            "a failed day waits for the next"
        );
        assert_eq!(stand_in.daily_hits.load(Ordering::SeqCst), 0);

        // The next day: the daily file, and (no ECB rate stored before it) the 90-day history.
        app.state.clock.advance(Duration::days(1));
        let got = ecb::daily(services, &url, "instance-b")
            .await
            .unwrap()
            .expect("a new day")
            .expect("fetched");
        assert!(got.history, "{got:?}");
        assert_eq!(got.date, NaiveDate::from_ymd_opt(2024, 11, 21));
        assert_eq!(got.rows_reconverted, before.len() as u64, "{got:?}");
        // Another instance the same day: nothing to do.
        assert!(
            ecb::daily(services, &url, "instance-a")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(stand_in.daily_hits.load(Ordering::SeqCst), 1);
        assert_eq!(stand_in.history_hits.load(Ordering::SeqCst), 1);

        // Every row converted as `xads fx import` converts ECB's file: USD per JPY = USD/EUR ÷
        // JPY/EUR of the latest ECB day on or before the row's UTC date; stale past 7 days.
        let after = jpy_rows(&app, &key, &account).await;
        assert_eq!(after.len(), before.len(), "no row lost or added");
        let (mut stale, mut fresh) = (0, 0);
        for r in &after {
            let d = row_date(r);
            let (rate, rate_date) = match d.to_string().as_str() {
                "2024-11-18" => ("0.007", "2024-11-18"),
                "2024-11-19" | "2024-11-20" => ("0.0065", "2024-11-19"),
                _ => ("0.00675", "2024-11-04"),
            };
            assert_eq!(r["fx_rate"], rate, "{r}");
            assert_eq!(r["fx_rate_date"], rate_date, "{r}");
            assert_eq!(r["fx_source"], "ecb", "{r}");
            let spend = r["spend_local_micro"].as_i64().unwrap();
            let usd = xads::fx::spend_usd(spend, Decimal::from_str(rate).unwrap());
            assert_eq!(r["spend_usd"], usd.to_string(), "{r}");
            let is_stale = d - NaiveDate::from_str(rate_date).unwrap() > Duration::days(7);
            assert_eq!(r["fx_stale"], is_stale, "{r}");
            if is_stale { stale += 1 } else { fresh += 1 }
        }
        assert!(
            stale > 0 && fresh > 0,
            "both kinds pinned: {stale} stale, {fresh} fresh"
        );

        // The day after: the table has no gap (yesterday's rate is stored), so no history.
        app.state.clock.advance(Duration::days(1));
        *stand_in.daily.lock().unwrap() = ecb_file(&[("2024-11-22", QUOTES_1121)]);
        let got = ecb::daily(services, &url, "instance-a")
            .await
            .unwrap()
            .expect("a new day")
            .expect("fetched");
        assert!(!got.history, "{got:?}");
        assert_eq!(stand_in.history_hits.load(Ordering::SeqCst), 1);

        // Not ECB's XML (a proxy's error page): a failed day, the rows as they were.
        app.state.clock.advance(Duration::days(1));
        *stand_in.daily.lock().unwrap() = "<html>maintenance</html>".into();
        let bad = ecb::daily(services, &url, "instance-a")
            .await
            .unwrap()
            .expect("a new day");
        assert!(
            matches!(bad, Err(ecb::FetchError::Unreadable { .. })),
            "{bad:?}"
        );
        // (Rows turn final as the days pass; their figures and conversions stay.)
        let unfinal = |rows: Vec<Value>| -> Vec<Value> {
            rows.into_iter()
                .map(|mut r| {
                    r.as_object_mut().unwrap().remove("final");
                    r
                })
                .collect()
        };
        assert_eq!(
            unfinal(jpy_rows(&app, &key, &account).await),
            unfinal(after)
        );
    }
}

#[tokio::test]
async fn the_service_fetches_ecb_at_start() {
    let stand_in = StandIn::default();
    let url = stand_in.start().await;
    *stand_in.daily.lock().unwrap() = ecb_file(&[("2024-11-20", QUOTES_1121)]);
    *stand_in.history.lock().unwrap() = ecb_file(&[("2024-11-19", QUOTES_1119)]);
    let db = xads::testing::sqlite_url();
    let (app, _key, _account) = connected(&db, &[("XADS_FX_URL", url.to_string())]).await;
    // The start's fetch runs beside the requests; wait (bounded) for its record.
    let mut done = None;
    for _ in 0..400 {
        let days = xads::store::fx_fetches::recent(&app.state.db, 1)
            .await
            .unwrap();
        if days.first().is_some_and(|d| d.done) {
            done = days.into_iter().next();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let done = done.expect("the start's fetch finished");
    assert!(
        done.outcome.as_deref().unwrap().starts_with("ok: "),
        "{done:?}"
    );
    let jpy = xads::store::fx_rates::series(&app.state.db, "JPY")
        .await
        .unwrap();
    assert!(
        jpy.iter().any(|(d, r, s)| d.to_string() == "2024-11-20"
            && r.to_string() == "0.0065625"
            && s == "ecb"),
        "{jpy:?}"
    );
}
