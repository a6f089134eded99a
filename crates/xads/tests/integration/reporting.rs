//! Reporting against the fake X on both backends (PRODUCT.md §4.7, §5.1): one sync stores every
//! hour as the fake's generator says, USD by hand-computed expectations (USD, 0-decimal JPY,
//! 3-decimal KWD), late data updates rows without duplicates, X's stats rules hold in the ledger,
//! and two instances sync each account once per slot.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Timelike, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use xads::app::{AppState, Application};
use xads::config::Config;
use xads::sync::scheduler;
use xads_fake::{FakeConfig, FakeX, HourMetrics, hourly_metrics};

use crate::helpers::{TestApp, vars_for};

/// The fake's frozen "now": before every bundled FX rate (2025-01-02), so only USD converts
/// until a test adds rates.
pub(crate) fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-11-20T10:30:00Z")
        .unwrap()
        .to_utc()
}

pub(crate) fn fake_config() -> FakeConfig {
    FakeConfig {
        start_time: Some(t0()),
        history_days: 20,
        ..FakeConfig::default()
    }
}

pub(crate) fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap()
}

pub(crate) struct Ctx {
    pub(crate) app: TestApp,
    pub(crate) key: String,
}

/// The service with its clock on the fake's, connected as a tenant.
pub(crate) async fn connected(db: &str, cfg: FakeConfig) -> Ctx {
    let fake = FakeX::start(cfg).await.expect("fake X");
    let vars = vars_for(db, &fake);
    let app = TestApp::spawn_with(fake, &vars).await;
    app.state.clock.advance(t0() - Utc::now());
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    Ctx { app, key }
}

impl Ctx {
    pub(crate) fn seed(&self) -> xads_fake::SeedInfo {
        self.app.fake.state().seed_info()
    }
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.send(method, &self.key, path, body).await
    }
    pub(crate) async fn sync(&self, account: &str, body: Value) -> Value {
        let (status, run) = self
            .send(
                Method::POST,
                &format!("/api/v1/x_ads/accounts/{account}/stats/sync?wait=true"),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{run}");
        assert_eq!(run["status"], "succeeded", "{run}");
        run
    }
    pub(crate) async fn stats(&self, account: &str, query: &str) -> Vec<Value> {
        let (status, body) = self
            .app
            .get(
                &self.key,
                &format!("/api/v1/x_ads/accounts/{account}/stats?{query}"),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().unwrap().clone()
    }
}

/// What the fake says a campaign delivered per hour of `[from, to)`: the sum of its serving line
/// items' `hourly_metrics` (the fake's rules: line item and campaign serving, inside the flight,
/// hour started), each at its revision in `revisions`.
pub(crate) fn expected_campaigns(
    fake: &FakeX,
    account: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    revisions: &HashMap<(String, DateTime<Utc>), u32>,
) -> BTreeMap<(String, DateTime<Utc>), HourMetrics> {
    let mut out = BTreeMap::new();
    for (campaign, _, h, m) in served_line_item_hours(fake, account, from, to, revisions) {
        let e = out.entry((campaign, h)).or_insert(HourMetrics::default());
        *e = *e + m;
    }
    out
}

/// Every (campaign, line item, hour) of `[from, to)` the fake says a line item served, with its
/// `hourly_metrics` at its revision in `revisions` (the rules of [`expected_campaigns`]).
pub(crate) fn served_line_item_hours(
    fake: &FakeX,
    account: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    revisions: &HashMap<(String, DateTime<Utc>), u32>,
) -> Vec<(String, String, DateTime<Utc>, HourMetrics)> {
    served_line_item_hours_of(fake.state(), account, from, to, revisions)
}

/// [`served_line_item_hours`] from the fake's state (a clone of which outlives the server).
pub(crate) fn served_line_item_hours_of(
    st: &xads_fake::FakeState,
    account: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    revisions: &HashMap<(String, DateTime<Utc>), u32>,
) -> Vec<(String, String, DateTime<Utc>, HourMetrics)> {
    let seed = st.config().seed;
    let now = st.now();
    let campaigns = st.campaigns(account);
    let hour = Duration::hours(1);
    let mut out = Vec::new();
    for c in &campaigns {
        for l in st
            .line_items(account)
            .iter()
            .filter(|l| l.campaign_id == c.id)
        {
            let mut h = from;
            while h < to {
                let serves = h <= now
                    && l.serving.served_during(h, hour)
                    && c.serving.served_during(h, hour)
                    && l.start_time.is_none_or(|s| s < h + hour)
                    && l.end_time.is_none_or(|e| e > h);
                let rev = revisions.get(&(l.id.clone(), h)).copied().unwrap_or(0);
                if serves && let Some(m) = hourly_metrics(seed, &l.id, h, rev) {
                    out.push((c.id.clone(), l.id.clone(), h, m));
                }
                h += hour;
            }
        }
    }
    out
}

/// What the fake says each promoted tweet of `account` delivered per hour of `[from, to)` (its
/// line item and campaign serving as in [`served_line_item_hours`], the promoted tweet serving
/// too): [`hourly_metrics`] keyed by the promoted tweet's id, installs only under app objectives.
pub(crate) fn expected_promoted_tweets(
    st: &xads_fake::FakeState,
    account: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeMap<(String, DateTime<Utc>), HourMetrics> {
    let (seed, now) = (st.config().seed, st.now());
    let (campaigns, line_items) = (st.campaigns(account), st.line_items(account));
    let hour = Duration::hours(1);
    let mut out = BTreeMap::new();
    for p in st.promoted_tweets(account) {
        let l = line_items.iter().find(|l| l.id == p.line_item_id).unwrap();
        let c = campaigns.iter().find(|c| c.id == l.campaign_id).unwrap();
        let mut h = from;
        while h < to {
            let serves = h <= now
                && p.serving.served_during(h, hour)
                && l.serving.served_during(h, hour)
                && c.serving.served_during(h, hour)
                && l.start_time.is_none_or(|s| s < h + hour)
                && l.end_time.is_none_or(|e| e > h);
            if serves && let Some(m) = hourly_metrics(seed, &p.id, h, 0) {
                let m = if xads_fake::is_app_objective(&l.objective) {
                    m
                } else {
                    m.without_installs()
                };
                out.insert((p.id.clone(), h), m);
            }
            h += hour;
        }
    }
    out
}

/// `micros / 10^6 × rate` rounded half-even to 6 places, by integer arithmetic (independent of
/// the service's decimal code). `rate` is given as digits and a scale: 0.00641235 = (641235, 8).
fn hand_usd(micros: i64, rate_digits: i128, rate_scale: u32) -> String {
    let v = i128::from(micros) * rate_digits; // scale 6 + rate_scale
    let div = 10i128.pow(rate_scale);
    let (mut q, r) = (v / div, v % div);
    if 2 * r > div || (2 * r == div && q % 2 == 1) {
        q += 1;
    }
    format!("{}.{:06}", q / 1_000_000, q % 1_000_000)
}

#[test]
fn hand_usd_rounds_half_even() {
    // 1 234 JPY at 0.00641235 = 7.91283990 → 7.912840.
    assert_eq!(hand_usd(1_234_000_000, 641_235, 8), "7.912840");
    // 12.345 KWD at 3.2537 = 40.1669265: the tie goes to the even 6.
    assert_eq!(hand_usd(12_345_000, 32_537, 4), "40.166926");
    assert_eq!(hand_usd(12_347_000, 32_537, 4), "40.173434");
}

fn metric(row: &Value, name: &str) -> u64 {
    row[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in {row}"))
}

/// Asserts the stored hourly campaign rows of `account` in `[from, to)` equal the fake's numbers.
pub(crate) fn check_rows(
    rows: &[Value],
    expected: &BTreeMap<(String, DateTime<Utc>), HourMetrics>,
    currency: &str,
) {
    check_rows_of("CAMPAIGN", rows, expected, currency)
}

/// [`check_rows`] for the rows of X's entity type `entity`.
pub(crate) fn check_rows_of(
    entity: &str,
    rows: &[Value],
    expected: &BTreeMap<(String, DateTime<Utc>), HourMetrics>,
    currency: &str,
) {
    let got: BTreeMap<(String, DateTime<Utc>), &Value> = rows
        .iter()
        .map(|r| {
            let start = DateTime::parse_from_rfc3339(r["start"].as_str().unwrap())
                .unwrap()
                .to_utc();
            ((r["entity_id"].as_str().unwrap().to_owned(), start), r)
        })
        .collect();
    assert_eq!(got.len(), rows.len(), "duplicate rows");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "stored hours differ from the hours the fake delivered"
    );
    for (k, m) in expected {
        let r = got[k];
        assert_eq!(r["entity"], entity);
        assert_eq!(r["placement"], "ALL_ON_TWITTER");
        assert_eq!(r["currency"], currency, "{r}");
        assert_eq!(metric(r, "impressions"), m.impressions, "{k:?}");
        assert_eq!(metric(r, "clicks"), m.clicks, "{k:?}");
        assert_eq!(metric(r, "engagements"), m.engagements, "{k:?}");
        assert_eq!(metric(r, "retweets"), m.retweets, "{k:?}");
        assert_eq!(metric(r, "likes"), m.likes, "{k:?}");
        assert_eq!(metric(r, "replies"), m.replies, "{k:?}");
        assert_eq!(metric(r, "follows"), m.follows, "{k:?}");
        assert_eq!(
            metric(r, "billed_engagements"),
            m.billed_engagements,
            "{k:?}"
        );
        assert_eq!(metric(r, "conversions"), m.conversions, "{k:?}");
        assert_eq!(
            r["spend_local_micro"].as_i64().unwrap(),
            m.billed_charge_local_micro,
            "{k:?}"
        );
    }
}

pub(crate) fn by_key(rows: &[Value]) -> HashMap<(String, String), Value> {
    rows.iter()
        .map(|r| {
            (
                (
                    r["entity_id"].as_str().unwrap().to_owned(),
                    r["start"].as_str().unwrap().to_owned(),
                ),
                r.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn one_sync_stores_every_hour_with_usd_for_usd_jpy_and_kwd_accounts() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, fake_config()).await;
        let seed = c.seed();
        let end = floor_hour(t0()) + Duration::hours(1);
        let from = end - Duration::days(7);
        let q = format!(
            "entity=campaign&from={}&to={}",
            from.to_rfc3339(),
            end.to_rfc3339()
        )
        .replace('+', "%2B");
        for (account, currency) in [
            (&seed.usd_account_id, "USD"),
            (&seed.jpy_account_id, "JPY"),
            (&seed.kwd_account_id, "KWD"),
        ] {
            let run = c.sync(account, json!({})).await;
            assert_eq!(
                run["from"],
                from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            assert!(
                run["counts"]["rows_upserted"].as_i64().unwrap() > 0,
                "{run}"
            );
            let rows = c.stats(account, &q).await;
            let expected = expected_campaigns(&c.app.fake, account, from, end, &HashMap::new());
            assert!(expected.len() > 100, "the seeded world delivers");
            check_rows(&rows, &expected, currency);
            for r in &rows {
                let spend = r["spend_local_micro"].as_i64().unwrap();
                if currency == "USD" {
                    // USD per USD is 1 (bundled), so USD is the local spend to 6 places.
                    assert_eq!(r["fx_rate"], "1");
                    assert_eq!(r["fx_source"], "bundled");
                    assert_eq!(r["spend_usd"], hand_usd(spend, 1, 0));
                } else {
                    // No JPY/KWD rate on or before November 2024 yet: kept, USD empty.
                    assert!(r["spend_usd"].is_null() && r["fx_rate"].is_null(), "{r}");
                }
                // Rows older than 72 h are final.
                let start = DateTime::parse_from_rfc3339(r["start"].as_str().unwrap()).unwrap();
                assert_eq!(
                    r["final"],
                    start + Duration::hours(1) <= t0() - Duration::hours(72),
                    "{r}"
                );
            }
        }

        // Rates arrive: rows of their dates get USD (the latest rate on or before each date).
        let (status, body) = c
            .send(
                Method::POST,
                "/api/v1/fx_rates",
                Some(json!([
                    {"date": "2024-11-01", "currency": "JPY", "usd_per_unit": "0.00641235"},
                    {"date": "2024-11-18", "currency": "KWD", "usd_per_unit": "3.2537"},
                ])),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert!(body["rows_reconverted"].as_u64().unwrap() > 0, "{body}");
        let jpy = c.stats(&seed.jpy_account_id, &q).await;
        assert!(!jpy.is_empty());
        for r in &jpy {
            let spend = r["spend_local_micro"].as_i64().unwrap();
            assert_eq!(spend % 1_000_000, 0, "the fake spends whole yen");
            assert_eq!(r["fx_rate"], "0.00641235", "{r}");
            assert_eq!(r["fx_rate_date"], "2024-11-01");
            assert_eq!(r["fx_source"], "api");
            assert_eq!(r["spend_usd"], hand_usd(spend, 641_235, 8), "{r}");
        }
        let kwd = c.stats(&seed.kwd_account_id, &q).await;
        let day_18 = DateTime::parse_from_rfc3339("2024-11-18T00:00:00Z").unwrap();
        let (mut before, mut after) = (0, 0);
        for r in &kwd {
            let start = DateTime::parse_from_rfc3339(r["start"].as_str().unwrap()).unwrap();
            let spend = r["spend_local_micro"].as_i64().unwrap();
            if start < day_18 {
                before += 1;
                assert!(
                    r["spend_usd"].is_null(),
                    "no KWD rate on or before {start}: {r}"
                );
            } else {
                after += 1;
                assert_eq!(r["fx_rate"], "3.2537");
                assert_eq!(r["fx_rate_date"], "2024-11-18");
                assert_eq!(r["spend_usd"], hand_usd(spend, 32_537, 4), "{r}");
            }
        }
        assert!(before > 0 && after > 0);
        // An older KWD rate fills the rest, and a CSV-shaped second JPY rate takes over from its
        // date on.
        let (status, _) = c
            .send(
                Method::POST,
                "/api/v1/fx_rates",
                Some(json!({"rates": [
                    {"date": "2024-11-10", "currency": "KWD", "usd_per_unit": "3.25"},
                    {"date": "2024-11-19", "currency": "JPY", "usd_per_unit": "0.0065"},
                ]})),
            )
            .await;
        assert_eq!(status, 201);
        for r in c.stats(&seed.kwd_account_id, &q).await {
            let start = DateTime::parse_from_rfc3339(r["start"].as_str().unwrap()).unwrap();
            let spend = r["spend_local_micro"].as_i64().unwrap();
            let want = if start < day_18 {
                hand_usd(spend, 325, 2)
            } else {
                hand_usd(spend, 32_537, 4)
            };
            assert_eq!(r["spend_usd"], want, "{r}");
        }
        let day_19 = DateTime::parse_from_rfc3339("2024-11-19T00:00:00Z").unwrap();
        for r in c.stats(&seed.jpy_account_id, &q).await {
            let start = DateTime::parse_from_rfc3339(r["start"].as_str().unwrap()).unwrap();
            let spend = r["spend_local_micro"].as_i64().unwrap();
            let (want, date) = if start < day_19 {
                (hand_usd(spend, 641_235, 8), "2024-11-01")
            } else {
                (hand_usd(spend, 65, 4), "2024-11-19")
            };
            assert_eq!(
                (
                    r["spend_usd"].as_str().unwrap(),
                    r["fx_rate_date"].as_str().unwrap()
                ),
                (want.as_str(), date),
                "{r}"
            );
        }

        // Local days (Asia/Tokyo) and the total add the hours up, USD included.
        let hours = c.stats(&seed.jpy_account_id, &q).await;
        let days = c
            .stats(&seed.jpy_account_id, &format!("{q}&granularity=day"))
            .await;
        let tokyo: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
        let some = days
            .iter()
            .find(|d| d["impressions"].as_u64().unwrap() > 0)
            .unwrap();
        let day_start = DateTime::parse_from_rfc3339(some["start"].as_str().unwrap()).unwrap();
        assert_eq!(day_start.with_timezone(&tokyo).hour(), 0, "{some}");
        let in_day: Vec<&Value> = hours
            .iter()
            .filter(|h| {
                h["entity_id"] == some["entity_id"] && {
                    let s = DateTime::parse_from_rfc3339(h["start"].as_str().unwrap()).unwrap();
                    s >= day_start && s < day_start + Duration::days(1)
                }
            })
            .collect();
        assert_eq!(
            in_day.iter().map(|h| metric(h, "impressions")).sum::<u64>(),
            metric(some, "impressions")
        );
        let usd: rust_decimal::Decimal = in_day
            .iter()
            .map(|h| {
                h["spend_usd"]
                    .as_str()
                    .unwrap()
                    .parse::<rust_decimal::Decimal>()
                    .unwrap()
            })
            .sum();
        assert_eq!(some["spend_usd"].as_str().unwrap(), format!("{usd:.6}"));
        let total = c
            .stats(&seed.usd_account_id, &format!("{q}&granularity=total"))
            .await;
        let usd_hours = c.stats(&seed.usd_account_id, &q).await;
        let campaigns: BTreeSet<&str> = usd_hours
            .iter()
            .map(|r| r["entity_id"].as_str().unwrap())
            .collect();
        assert_eq!(total.len(), campaigns.len());
        for t in &total {
            let sum: u64 = usd_hours
                .iter()
                .filter(|h| h["entity_id"] == t["entity_id"])
                .map(|h| metric(h, "clicks"))
                .sum();
            assert_eq!(metric(t, "clicks"), sum);
        }

        // CSV has the same columns and rows.
        let resp = c
            .app
            .http
            .get(format!(
                "{}/api/v1/x_ads/accounts/{}/stats?{q}",
                c.app.base, seed.usd_account_id
            ))
            .bearer_auth(&c.key)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let csv = resp.text().await.unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            "date,entity,entity_id,entity_name,start,placement,impressions,clicks,engagements,retweets,likes,replies,follows,billed_engagements,conversions,installs,currency,spend_local_micro,spend_local,fx_rate,fx_rate_date,fx_source,spend_usd,fx_stale,final"
        );
        assert_eq!(lines.count(), usd_hours.len());

        // LINE_ITEM stats for the campaigns asked for (what experiments use).
        let campaign = c.app.fake.state().campaigns(&seed.usd_account_id)[0]
            .id
            .clone();
        c.sync(
            &seed.usd_account_id,
            json!({"line_item_campaign_ids": [campaign]}),
        )
        .await;
        let li_rows = c
            .stats(
                &seed.usd_account_id,
                &q.replace("entity=campaign", "entity=LINE_ITEM"),
            )
            .await;
        let lis: Vec<String> = c
            .app
            .fake
            .state()
            .line_items(&seed.usd_account_id)
            .iter()
            .filter(|l| l.campaign_id == campaign)
            .map(|l| l.id.clone())
            .collect();
        assert!(!li_rows.is_empty());
        let fake_seed = c.app.fake.state().config().seed;
        for r in &li_rows {
            let id = r["entity_id"].as_str().unwrap();
            assert!(lis.iter().any(|l| l == id), "{r}");
            let start = DateTime::parse_from_rfc3339(r["start"].as_str().unwrap())
                .unwrap()
                .to_utc();
            let m = hourly_metrics(fake_seed, id, start, 0).unwrap();
            assert_eq!(metric(r, "impressions"), m.impressions);
            assert_eq!(
                r["spend_local_micro"].as_i64().unwrap(),
                m.billed_charge_local_micro
            );
        }

        // The tile shows the sync health.
        let (_, tiles) = c.app.get(&c.key, "/api/v1/integrations").await;
        let sync = &tiles["data"][0]["sync"];
        assert!(sync["last_success_at"].is_string(), "{tiles}");
        assert!(sync["lag_seconds"].as_i64().unwrap() >= 0);
        assert!(sync["last_error"].is_null());
    }
}

#[tokio::test]
async fn late_data_updates_the_row_and_duplicates_nothing() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, fake_config()).await;
        let acct = c.seed().usd_account_id.clone();
        c.sync(&acct, json!({})).await;
        let (tenant, _) = (
            xads::store::tenants::by_api_key(&c.app.state.db, &c.key)
                .await
                .unwrap()
                .unwrap(),
            (),
        );
        let count = xads::store::stats::count(&c.app.state.db, &tenant.id, &acct)
            .await
            .unwrap();
        let end = floor_hour(t0()) + Duration::hours(1);
        let from = end - Duration::days(7);
        let expected = expected_campaigns(&c.app.fake, &acct, from, end, &HashMap::new());
        // A recent hour (inside the trailing 72 h) of a delivering campaign.
        let hour = floor_hour(t0()) - Duration::hours(5);
        let (campaign, _) = expected
            .keys()
            .find(|(_, h)| *h == hour)
            .cloned()
            .expect("a campaign delivered that hour");
        let before = expected[&(campaign.clone(), hour)];
        assert_eq!(c.app.fake.state().revise(&campaign, hour), 1);
        let revisions: HashMap<(String, DateTime<Utc>), u32> = c
            .app
            .fake
            .state()
            .line_items(&acct)
            .iter()
            .filter(|l| l.campaign_id == campaign)
            .map(|l| ((l.id.clone(), hour), 1))
            .collect();
        let after = expected_campaigns(&c.app.fake, &acct, from, end, &revisions);
        let want = after[&(campaign.clone(), hour)];
        assert_ne!(want, before, "the revision changes the numbers");

        c.sync(&acct, json!({})).await;
        let q = format!(
            "entity=campaign&from={}&to={}",
            from.to_rfc3339(),
            end.to_rfc3339()
        )
        .replace('+', "%2B");
        let rows = c.stats(&acct, &q).await;
        check_rows(&rows, &after, "USD");
        let row = &by_key(&rows)[&(
            campaign.clone(),
            hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )];
        assert_eq!(metric(row, "impressions"), want.impressions);
        assert_eq!(
            row["spend_usd"],
            hand_usd(want.billed_charge_local_micro, 1, 0)
        );
        assert_eq!(
            xads::store::stats::count(&c.app.state.db, &tenant.id, &acct)
                .await
                .unwrap(),
            count,
            "no duplicates"
        );
    }
}

fn pairs(e: &xads_fake::LedgerEntry) -> HashMap<String, String> {
    e.query_pairs.iter().cloned().collect()
}

#[tokio::test]
async fn stats_calls_keep_x_rules_and_ask_only_for_active_entities() {
    for db in xads::testing::all_backend_urls().await {
        // 40 campaigns (every third paused): more than 20 active, so ids come in batches.
        let c = connected(
            &db,
            FakeConfig {
                campaigns_per_account: 40,
                ..fake_config()
            },
        )
        .await;
        let acct = c.seed().usd_account_id.clone();
        c.app.fake.state().clear_ledger();
        // A 10-day backfill: two 7-day windows at most per batch.
        let to = t0();
        let from = to - Duration::days(10);
        c.sync(
            &acct,
            json!({"from": from.to_rfc3339(), "to": to.to_rfc3339()}),
        )
        .await;
        c.sync(&acct, json!({})).await;
        let ledger = c.app.fake.state().ledger();
        let stats_path = format!("/12/stats/accounts/{acct}");
        let ae: Vec<_> = ledger
            .iter()
            .filter(|e| e.path == format!("{stats_path}/active_entities"))
            .collect();
        let stats: Vec<_> = ledger.iter().filter(|e| e.path == stats_path).collect();
        assert_eq!(ae.len(), 2, "one active_entities call per run");
        assert!(stats.len() >= 4, "batches × windows: {}", stats.len());
        // What active_entities returned, replayed with the same parameters.
        let token = c
            .app
            .fake
            .state()
            .issue_tokens(&c.seed().user_id, "ads.read")
            .access_token;
        let mut active = BTreeSet::new();
        for e in &ae {
            let body: Value = c
                .app
                .http
                .get(format!(
                    "{}{}?{}",
                    c.app.fake.base_url().as_str().trim_end_matches('/'),
                    e.path,
                    e.query
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for a in body["data"].as_array().unwrap() {
                active.insert(a["entity_id"].as_str().unwrap().to_owned());
            }
        }
        assert!(active.len() > 20, "{}", active.len());
        let mut asked = BTreeSet::new();
        let mut saw_split = false;
        for e in &stats {
            assert_eq!(e.status, Some(200), "{}", e.query);
            let p = pairs(e);
            let ids: Vec<&str> = p["entity_ids"].split(',').collect();
            assert!(ids.len() <= 20, "{} ids", ids.len());
            assert!(!p["placement"].contains(','), "one placement per call");
            assert_eq!(p["placement"], "ALL_ON_TWITTER");
            assert_eq!(p["granularity"], "HOUR");
            let start = DateTime::parse_from_rfc3339(&p["start_time"]).unwrap();
            let end = DateTime::parse_from_rfc3339(&p["end_time"]).unwrap();
            for t in [start, end] {
                assert_eq!(
                    (t.minute(), t.second(), t.nanosecond()),
                    (0, 0, 0),
                    "whole hours"
                );
            }
            assert!(end > start && end - start <= Duration::days(7));
            saw_split |= end - start == Duration::days(7);
            for id in ids {
                assert!(
                    active.contains(id),
                    "{id} was not returned by active_entities"
                );
                asked.insert(id.to_owned());
            }
        }
        assert!(
            saw_split,
            "the 10-day backfill was split into 7-day windows"
        );
        assert_eq!(asked, active, "every active entity got its stats");
        // Paused campaigns that never served in the window are not asked about.
        let all: BTreeSet<String> = c
            .app
            .fake
            .state()
            .campaigns(&acct)
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert!(asked.len() < all.len(), "{} of {}", asked.len(), all.len());
    }
}

/// A second instance (its own state and pools) on the same database and fake.
async fn second_instance(db: &str, fake: &FakeX) -> AppState {
    let config = Config::from_vars(&vars_for(db, fake)).expect("config");
    let app = Application::build(config).await.expect("app");
    let state = app.state().clone();
    state.clock.advance(t0() - Utc::now());
    state
}

#[tokio::test]
async fn two_instances_sync_each_account_once_per_slot() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, fake_config()).await;
        let a = c.app.state.clone();
        let b = second_instance(&db, &c.app.fake).await;
        c.app.fake.state().clear_ledger();
        let (ra, rb) = tokio::join!(scheduler::tick(&a), scheduler::tick(&b));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let accounts = xads::store::connections::ad_accounts(
            &a.db,
            &xads::store::tenants::by_api_key(&a.db, &c.key)
                .await
                .unwrap()
                .unwrap()
                .id,
        )
        .await
        .unwrap();
        assert_eq!(accounts.len(), 3);
        let mut synced: Vec<String> = ra
            .iter()
            .chain(rb.iter())
            .map(|o| {
                assert!(o.result.is_ok(), "{o:?}");
                o.target.account_id.clone()
            })
            .collect();
        synced.sort();
        let mut want: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
        want.sort();
        assert_eq!(synced, want, "each account once, by one of the two");
        // The same slot again: nothing to do on either instance.
        let (ra, rb) = tokio::join!(scheduler::tick(&a), scheduler::tick(&b));
        assert!(ra.unwrap().is_empty() && rb.unwrap().is_empty());
        // The next slot: each account once more.
        for s in [&a, &b] {
            s.clock.advance(Duration::hours(1));
        }
        c.app.fake.state().advance_clock(Duration::hours(1));
        let (ra, rb) = tokio::join!(scheduler::tick(&a), scheduler::tick(&b));
        assert_eq!(ra.unwrap().len() + rb.unwrap().len(), 3);
        let ledger = c.app.fake.state().ledger();
        for acct in &want {
            let calls = ledger
                .iter()
                .filter(|e| e.path == format!("/12/stats/accounts/{acct}/active_entities"))
                .count();
            assert_eq!(calls, 2, "{acct}: one sync per slot");
            let runs =
                xads::store::sync_runs::runs(&a.db, &accounts_tenant(&a, &c.key).await, acct)
                    .await
                    .unwrap();
            assert_eq!(runs.len(), 2);
            assert!(
                runs.iter()
                    .all(|r| r.status == "succeeded" && r.trigger == "scheduled")
            );
        }
        b.db.close().await;
    }
}

async fn accounts_tenant(state: &AppState, key: &str) -> String {
    xads::store::tenants::by_api_key(&state.db, key)
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn sync_api_answers_202_then_status_and_refuses_bad_input() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, fake_config()).await;
        let acct = c.seed().usd_account_id.clone();
        let base = format!("/api/v1/x_ads/accounts/{acct}");
        let (status, started) = c
            .send(Method::POST, &format!("{base}/stats/sync"), None)
            .await;
        assert_eq!(status, 202, "{started}");
        assert_eq!(started["status"], "running");
        let id = started["sync_id"].as_str().unwrap();
        let (status, done) = c
            .app
            .get(&c.key, &format!("{base}/stats/sync/{id}?wait=true"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(done["status"], "succeeded", "{done}");
        assert!(done["counts"]["x_calls"].as_i64().unwrap() > 0);
        assert!(done["counts"]["rows_upserted"].as_i64().unwrap() > 0);

        let bad = [
            (json!({"from": "2024-11-20", "to": "2024-11-19"}), 422),
            (json!({"from": "yesterday"}), 422),
            (json!({"from": "2020-01-01", "to": "2024-11-19"}), 422),
            (json!({"unknown": 1}), 422),
        ];
        for (body, want) in bad {
            let (status, err) = c
                .send(
                    Method::POST,
                    &format!("{base}/stats/sync"),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(status, want, "{body} → {err}");
        }
        let (status, _) = c
            .send(
                Method::POST,
                "/api/v1/x_ads/accounts/not_mine/stats/sync",
                None,
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = c
            .app
            .get(&c.key, &format!("{base}/stats/sync/syn_unknown"))
            .await;
        assert_eq!(status, 404);
        // Another tenant sees neither the run nor the rows.
        let other = c.app.tenant("Other").await;
        let (status, _) = c.app.get(&other, &format!("{base}/stats/sync/{id}")).await;
        assert_eq!(status, 404);
        let (status, _) = c.app.get(&other, &format!("{base}/stats")).await;
        assert_eq!(status, 404);
        let (status, _) = c
            .app
            .get(&c.key, &format!("{base}/stats?granularity=week"))
            .await;
        assert_eq!(status, 422);
        let (status, _) = c
            .app
            .get(&c.key, &format!("{base}/stats?entity=tweet"))
            .await;
        assert_eq!(status, 422);
        for body in [
            json!({"date": "2024-13-01", "currency": "JPY", "usd_per_unit": "0.0065"}),
            json!({"date": "2024-11-01", "currency": "JP", "usd_per_unit": "0.0065"}),
            json!({"date": "2024-11-01", "currency": "JPY", "usd_per_unit": "-1"}),
            json!([]),
        ] {
            let (status, err) = c
                .send(Method::POST, "/api/v1/fx_rates", Some(body.clone()))
                .await;
            assert_eq!(status, 422, "{body} → {err}");
        }
        let (status, rates) = c.app.get(&c.key, "/api/v1/fx_rates?currency=kwd").await;
        assert_eq!(status, 200);
        assert!(
            rates["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["currency"] == "KWD" && r["source"] == "bundled"),
            "{rates}"
        );
    }
}
