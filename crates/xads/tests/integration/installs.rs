//! Installs and cost per install against the fake X on both backends (issue 18 item 4; PRODUCT.md
//! §4.10, §5.1): the sync asks `MOBILE_CONVERSION` by itself, in calls of their own, about the app
//! campaigns alone (none for a web-only account); rows carry the fake generator's post-view +
//! post-engagement installs (null where not asked), `conversions` stays web conversions, and
//! totals carry `cpi_usd` / `cpa_usd` as exact half-even decimals, null where the divisor is 0
//! or USD is unknown; the CSV has the columns.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Timelike, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use xads_fake::{FakeConfig, FakeX, HourMetrics, hourly_metrics, is_app_objective};

use crate::helpers::{TestApp, vars_for};

/// Before every bundled FX rate but USD's, as in `reporting`: the JPY account has no USD.
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-11-20T10:30:00Z")
        .unwrap()
        .to_utc()
}

fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap()
}

/// What the fake says each campaign delivered per hour of `[from, to)` (the sum of its serving
/// line items' generator values), installs counted only under app line items.
fn expected(
    fake: &FakeX,
    account: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeMap<(String, DateTime<Utc>), HourMetrics> {
    let st = fake.state();
    let (seed, now, hour) = (st.config().seed, st.now(), Duration::hours(1));
    let mut out = BTreeMap::new();
    for c in &st.campaigns(account) {
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
                if serves && let Some(m) = hourly_metrics(seed, &l.id, h, 0) {
                    let m = if is_app_objective(&l.objective) {
                        m
                    } else {
                        m.without_installs()
                    };
                    let e = out
                        .entry((c.id.clone(), h))
                        .or_insert(HourMetrics::default());
                    *e = *e + m;
                }
                h += hour;
            }
        }
    }
    out
}

/// `micros / 10^6 / n` half-even to 6 places, by integer arithmetic (independent of the
/// service's decimal code); `None` for n = 0.
pub(crate) fn hand_per(micros: i64, n: u64) -> Option<String> {
    let n = i128::from(n);
    if n == 0 {
        return None;
    }
    let v = i128::from(micros);
    let (mut q, r) = (v / n, v % n);
    if 2 * r > n || (2 * r == n && q % 2 == 1) {
        q += 1;
    }
    Some(format!("{}.{:06}", q / 1_000_000, q % 1_000_000))
}

#[test]
fn hand_per_rounds_half_even() {
    assert_eq!(hand_per(10_000_000, 3).as_deref(), Some("3.333333"));
    assert_eq!(hand_per(20_000_000, 3).as_deref(), Some("6.666667"));
    assert_eq!(hand_per(5, 2).as_deref(), Some("0.000002"));
    assert_eq!(hand_per(15, 2).as_deref(), Some("0.000008"));
    assert_eq!(hand_per(1, 0), None);
}

struct Ctx {
    app: TestApp,
    key: String,
}

impl Ctx {
    async fn sync(&self, account: &str) {
        let (status, run) = self
            .app
            .send(
                Method::POST,
                &self.key,
                &format!("/api/v1/x_ads/accounts/{account}/stats/sync?wait=true"),
                Some(json!({})),
            )
            .await;
        assert_eq!(
            (status, &run["status"]),
            (200, &json!("succeeded")),
            "{run}"
        );
    }

    async fn stats(&self, account: &str, query: &str) -> Vec<Value> {
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

    async fn csv(&self, account: &str, query: &str) -> String {
        let resp = self
            .app
            .http
            .get(format!(
                "{}/api/v1/x_ads/accounts/{account}/stats?{query}",
                self.app.base
            ))
            .bearer_auth(&self.key)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap()
    }
}

fn window(from: DateTime<Utc>, to: DateTime<Utc>, granularity: &str) -> String {
    format!(
        "entity=campaign&granularity={granularity}&from={}&to={}",
        from.to_rfc3339(),
        to.to_rfc3339()
    )
    .replace('+', "%2B")
}

fn start_of(r: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(r["start"].as_str().unwrap())
        .unwrap()
        .to_utc()
}

fn pairs(e: &xads_fake::LedgerEntry) -> HashMap<String, String> {
    e.query_pairs.iter().cloned().collect()
}

#[tokio::test]
async fn app_campaigns_get_installs_and_costs_per_install_exact_on_both_backends() {
    for db in xads::testing::all_backend_urls().await {
        let fake = FakeX::start(FakeConfig {
            start_time: Some(t0()),
            history_days: 20,
            // The USD account gets an app campaign after its three web ones; the rest stays
            // web-only.
            app_campaigns: 1,
            ..FakeConfig::default()
        })
        .await
        .expect("fake X");
        let vars = vars_for(&db, &fake);
        let app = TestApp::spawn_with(fake, &vars).await;
        app.state.clock.advance(t0() - Utc::now());
        let key = app.tenant("Growth").await;
        app.connect(&key).await;
        let c = Ctx { app, key };
        let seed = c.app.fake.state().seed_info();
        let (usd, jpy) = (seed.usd_account_id.clone(), seed.jpy_account_id.clone());
        let app_campaign = seed.accounts[0].campaign_ids.last().unwrap().clone();
        assert!(
            c.app
                .fake
                .state()
                .line_items(&usd)
                .iter()
                .any(|l| l.campaign_id == app_campaign && l.objective == "APP_INSTALLS")
        );

        c.app.fake.state().clear_ledger();
        c.sync(&usd).await;
        c.sync(&jpy).await;

        // The calls: MOBILE_CONVERSION alone, about the app campaign alone, each beside a main
        // call of the same window and placement; none for the web-only account.
        let ledger = c.app.fake.state().ledger();
        let stats_calls = |account: &str| -> Vec<HashMap<String, String>> {
            ledger
                .iter()
                .filter(|e| e.path == format!("/12/stats/accounts/{account}"))
                .map(pairs)
                .collect()
        };
        let usd_calls = stats_calls(&usd);
        let (mobile, main): (Vec<_>, Vec<_>) = usd_calls
            .iter()
            .partition(|p| p["metric_groups"].contains("MOBILE_CONVERSION"));
        assert!(!mobile.is_empty(), "the app account asks for installs");
        for m in &mobile {
            assert_eq!(m["metric_groups"], "MOBILE_CONVERSION", "on its own");
            assert_eq!(
                m["entity_ids"], app_campaign,
                "about the app campaign alone"
            );
            assert!(
                main.iter().any(|p| p["start_time"] == m["start_time"]
                    && p["end_time"] == m["end_time"]
                    && p["placement"] == m["placement"]
                    && p["entity_ids"].split(',').any(|id| id == app_campaign)),
                "a companion of a main call: {m:?}"
            );
        }
        assert!(!main.is_empty());
        let jpy_calls = stats_calls(&jpy);
        assert!(!jpy_calls.is_empty());
        assert!(
            jpy_calls
                .iter()
                .all(|p| !p["metric_groups"].contains("MOBILE_CONVERSION")),
            "a web-only account makes no MOBILE_CONVERSION call"
        );

        // Hourly rows: installs are the generator's post-view + post-engagement of the app
        // campaign; null (not asked) for the web campaigns; conversions stay web conversions.
        let end = floor_hour(t0()) + Duration::hours(1);
        let from = end - Duration::days(7);
        let hours = c.stats(&usd, &window(from, end, "hour")).await;
        let want = expected(&c.app.fake, &usd, from, end);
        let got: BTreeMap<(String, DateTime<Utc>), &Value> = hours
            .iter()
            .map(|r| {
                (
                    (r["entity_id"].as_str().unwrap().to_owned(), start_of(r)),
                    r,
                )
            })
            .collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{:?}",
            db
        );
        let mut app_installs = 0;
        for (k, m) in &want {
            let r = got[k];
            assert_eq!(r["conversions"], json!(m.conversions), "{k:?}");
            assert!(r.get("cpi_usd").is_none(), "costs are for totals: {r}");
            if k.0 == app_campaign {
                assert_eq!(r["installs"], json!(m.installs()), "{k:?}: {r}");
                app_installs += m.installs();
            } else {
                assert_eq!(m.installs(), 0);
                assert!(r["installs"].is_null(), "not asked: unknown, {r}");
            }
        }
        assert!(
            app_installs > 100,
            "the app campaign installs: {app_installs}"
        );

        // Totals: cpi_usd = spend_usd / installs and cpa_usd = spend_usd / conversions, exact.
        let totals = c.stats(&usd, &window(from, end, "total")).await;
        assert_eq!(
            totals.len(),
            3,
            "three campaigns delivered (the third web one is paused)"
        );
        for t in &totals {
            let id = t["entity_id"].as_str().unwrap();
            let of = want.iter().filter(|((c, _), _)| c == id).map(|(_, m)| *m);
            let sum = of.fold(HourMetrics::default(), |a, m| a + m);
            // USD at 1: spend_usd is the local spend to 6 places.
            assert_eq!(t["spend_local_micro"], json!(sum.billed_charge_local_micro));
            assert_eq!(t["conversions"], json!(sum.conversions));
            assert_eq!(
                t["cpa_usd"],
                json!(hand_per(sum.billed_charge_local_micro, sum.conversions)),
                "{t}"
            );
            if id == app_campaign {
                assert_eq!(t["installs"], json!(app_installs));
                let cpi = hand_per(sum.billed_charge_local_micro, app_installs);
                assert!(cpi.is_some());
                assert_eq!(t["cpi_usd"], json!(cpi), "{t}");
            } else {
                assert!(t["installs"].is_null() && t["cpi_usd"].is_null(), "{t}");
            }
        }

        // Divisor 0: an hour of the app campaign without installs (and one without
        // conversions), read as a total of that hour alone, has no cost per event.
        let zero = |f: fn(&HourMetrics) -> u64| {
            want.iter()
                .find(|((c, _), m)| *c == app_campaign && f(m) == 0)
                .map(|((_, h), _)| *h)
                .expect("the generator has such an hour in the week")
        };
        for (h, field, count) in [
            (zero(HourMetrics::installs), "cpi_usd", "installs"),
            (zero(|m| m.conversions), "cpa_usd", "conversions"),
        ] {
            let rows = c
                .stats(&usd, &window(h, h + Duration::hours(1), "total"))
                .await;
            let r = rows
                .iter()
                .find(|r| r["entity_id"] == json!(app_campaign))
                .unwrap();
            assert_eq!(r[count], json!(0), "{r}");
            assert!(!r["spend_usd"].is_null(), "{r}");
            assert!(r[field].is_null(), "{field} without {count}: {r}");
        }

        // USD unknown (no JPY rate in 2024): no cost per event, conversions or not.
        let jpy_totals = c.stats(&jpy, &window(from, end, "total")).await;
        assert!(!jpy_totals.is_empty());
        for t in &jpy_totals {
            assert!(t["conversions"].as_u64().unwrap() > 0);
            assert!(t["spend_usd"].is_null(), "{t}");
            assert!(t["cpa_usd"].is_null() && t["cpi_usd"].is_null(), "{t}");
            assert!(t["installs"].is_null(), "{t}");
        }

        // Day rows carry installs, not the costs.
        let days = c.stats(&usd, &window(from, end, "day")).await;
        let day_installs: u64 = days
            .iter()
            .filter(|r| r["entity_id"] == json!(app_campaign))
            .map(|r| r["installs"].as_u64().unwrap())
            .sum();
        assert_eq!(day_installs, app_installs);
        assert!(days.iter().all(|r| r.get("cpi_usd").is_none()));

        // CSV: an installs column (empty where unknown); a total's CSV adds the costs.
        let csv = c.csv(&usd, &window(from, end, "hour")).await;
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|c| *c == name);
        let (installs_at, id_at) = (col("installs").unwrap(), col("entity_id").unwrap());
        assert_eq!(col("cpi_usd"), None);
        let mut csv_installs = 0;
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            if f[id_at] == app_campaign {
                csv_installs += f[installs_at].parse::<u64>().unwrap();
            } else {
                assert_eq!(f[installs_at], "", "{line}");
            }
        }
        assert_eq!(csv_installs, app_installs);
        let csv = c.csv(&usd, &window(from, end, "total")).await;
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            let t = totals
                .iter()
                .find(|t| t["entity_id"] == json!(f[col("entity_id")]))
                .unwrap();
            for name in ["installs", "cpi_usd", "cpa_usd"] {
                let want = match &t[name] {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                assert_eq!(f[col(name)], want, "{name}: {line}");
            }
        }
    }
}
