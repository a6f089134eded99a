//! Backfills through X's asynchronous jobs against the fake, on both backends (PRODUCT.md §4.10,
//! §5.1): jobs split at 90 days and 20 ids (the fake's ledger), X's concurrent-job limit obeyed,
//! a FAILED job asked again as a new job, an unknown submission found at X instead of sent
//! twice, a restart mid-backfill resumed by another instance without duplicate jobs or rows,
//! DELETE cancelling X's jobs, rows equal to the fake's generator (and unchanged by a sync of
//! the same hours), refusals, tenancy, the tile and the backfill on connect.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use xads::app::Application;
use xads::config::Config;
use xads_fake::faults::{FaultKind, FaultRule};
use xads_fake::{
    FakeConfig, FakeX, HourMetrics, JobSettings, LedgerEntry, is_app_objective, split_hour,
};

use crate::helpers::{TestApp, vars_for};
use crate::installs::hand_per;
use crate::reporting::{
    by_key, check_rows, check_rows_of, expected_campaigns, expected_promoted_tweets, floor_hour,
    served_line_item_hours, t0,
};

/// 25 campaigns with one line item and one promoted tweet each: two batches of ids per entity
/// type.
fn fake_config(jobs: JobSettings) -> FakeConfig {
    FakeConfig {
        start_time: Some(t0()),
        history_days: 12,
        campaigns_per_account: 25,
        line_items_per_campaign: 1,
        jobs,
        ..FakeConfig::default()
    }
}

/// The configuration of a test instance: fast polls, a short backfill lease.
fn config(db: &str, fake: &FakeX, backfill_days: &str) -> Config {
    let mut vars = vars_for(db, fake);
    vars.insert("XADS_BACKFILL_DAYS".into(), backfill_days.into());
    let mut config = Config::from_vars(&vars).expect("config");
    config.leases.backfill = StdDuration::from_millis(1500);
    config.leases.backfill_poll = StdDuration::from_millis(30);
    config.leases.backfill_poll_max = StdDuration::from_millis(150);
    config.leases.recheck_after = StdDuration::from_millis(300);
    config
}

/// Follows backfill `id` of `account` (`GET …/stats/backfill/{id}?wait=true`) until it is no
/// longer running; answers it as it ended.
pub(crate) async fn backfilled(app: &TestApp, key: &str, account: &str, id: &str) -> Value {
    let path = format!("/api/v1/x_ads/accounts/{account}/stats/backfill/{id}?wait=true");
    for _ in 0..600 {
        let (status, b) = app.get(key, &path).await;
        if status != 200 {
            let logs = crate::captured_logs();
            let tail: Vec<&str> = logs
                .lines()
                .filter(|l| l.contains("internal") || l.contains("ERROR") || l.contains("WARN"))
                .collect();
            panic!("{b}\n{}", tail[tail.len().saturating_sub(15)..].join("\n"));
        }
        if b["status"] != "running" {
            return b;
        }
    }
    panic!("backfill {id} still running");
}

pub(crate) struct Ctx {
    pub(crate) app: TestApp,
    pub(crate) key: String,
    account: String,
}

async fn connected(db: &str, jobs: JobSettings, backfill_days: &str) -> Ctx {
    connected_with(db, fake_config(jobs), backfill_days).await
}

pub(crate) async fn connected_with(db: &str, fake: FakeConfig, backfill_days: &str) -> Ctx {
    let fake = FakeX::start(fake).await.expect("fake X");
    let config = config(db, &fake, backfill_days);
    let app = TestApp::spawn_config(fake, config).await;
    app.state.clock.advance(t0() - Utc::now());
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    let account = app.fake.state().seed_info().usd_account_id;
    Ctx { app, key, account }
}

impl Ctx {
    fn path(&self, rest: &str) -> String {
        format!("/api/v1/x_ads/accounts/{}/stats/{rest}", self.account)
    }

    async fn start(&self, body: Value) -> (u16, Value) {
        self.app
            .send(Method::POST, &self.key, &self.path("backfill"), Some(body))
            .await
    }

    async fn wait(&self, id: &str) -> Value {
        backfilled(&self.app, &self.key, &self.account, id).await
    }

    async fn stats(&self, query: &str) -> Vec<Value> {
        let (status, body) = self
            .app
            .get(
                &self.key,
                &format!("{}?{query}", self.path("").trim_end_matches('/')),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().unwrap().clone()
    }

    fn creates(&self) -> Vec<LedgerEntry> {
        job_calls(&self.app.fake, "POST")
    }

    /// The seeded account's ids at each level a backfill fetches (campaigns, line items,
    /// promoted tweets), as X's entity type.
    fn levels(&self) -> Vec<(&'static str, BTreeSet<String>)> {
        let st = self.app.fake.state();
        vec![
            (
                "CAMPAIGN",
                st.campaigns(&self.account)
                    .into_iter()
                    .map(|c| c.id)
                    .collect(),
            ),
            (
                "LINE_ITEM",
                st.line_items(&self.account)
                    .into_iter()
                    .map(|l| l.id)
                    .collect(),
            ),
            (
                "PROMOTED_TWEET",
                st.promoted_tweets(&self.account)
                    .into_iter()
                    .map(|p| p.id)
                    .collect(),
            ),
        ]
    }

    /// The unsegmented jobs a backfill of `spans` job spans plans for the seeded account:
    /// per level, one per ≤ 20 ids and span.
    fn planned(&self, spans: usize) -> usize {
        self.levels()
            .iter()
            .map(|(_, ids)| ids.len().div_ceil(20) * spans)
            .sum()
    }
}

fn job_calls(fake: &FakeX, method: &str) -> Vec<LedgerEntry> {
    fake.state()
        .ledger()
        .into_iter()
        .filter(|e| e.method == method && e.path.starts_with("/12/stats/jobs/accounts/"))
        .collect()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The window of the tests: 100 days ending at the fake's current hour's end (two jobs' spans).
fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    let end = floor_hour(t0()) + Duration::hours(1);
    (end - Duration::days(100), end)
}

/// A job's `[start, end)`.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// (entity, id, start, end) of every job created at the fake, checked against X's rules.
fn job_keys(creates: &[LedgerEntry]) -> Vec<(String, String, DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    for c in creates {
        let ids: Vec<&str> = c.query_param("entity_ids").unwrap().split(',').collect();
        assert!((1..=20).contains(&ids.len()), "{ids:?}");
        let (from, to) = (
            at(c.query_param("start_time").unwrap()),
            at(c.query_param("end_time").unwrap()),
        );
        assert!(to - from <= Duration::days(90), "{from} → {to}");
        assert_eq!(c.query_param("granularity"), Some("HOUR"));
        assert!(c.query_param("segmentation_type").is_none());
        for id in ids {
            out.push((
                c.query_param("entity").unwrap().to_owned(),
                id.to_owned(),
                from,
                to,
            ));
        }
    }
    out
}

/// Every (entity, id) covers the window once, in ≤ 90-day jobs: 25 campaigns, 25 line items and
/// 25 promoted tweets, each in two spans (90 + 10 days).
fn assert_plan_covers(keys: &[(String, String, DateTime<Utc>, DateTime<Utc>)], ctx: &Ctx) {
    let (from, to) = window();
    let mut by_entity: HashMap<(String, String), Vec<Span>> = HashMap::new();
    for (e, id, f, t) in keys {
        by_entity
            .entry((e.clone(), id.clone()))
            .or_default()
            .push((*f, *t));
    }
    let levels = ctx.levels();
    assert!(levels.iter().all(|(_, ids)| ids.len() == 25), "{levels:?}");
    let wanted: BTreeSet<(String, String)> = levels
        .iter()
        .flat_map(|(e, ids)| ids.iter().map(|id| (e.to_string(), id.clone())))
        .collect();
    assert_eq!(by_entity.keys().cloned().collect::<BTreeSet<_>>(), wanted);
    for (k, mut spans) in by_entity {
        spans.sort();
        assert_eq!(
            spans,
            vec![
                (from, from + Duration::days(90)),
                (from + Duration::days(90), to)
            ],
            "{k:?} asked once per span"
        );
    }
}

#[tokio::test]
async fn a_backfill_splits_jobs_at_x_limits_and_stores_the_generators_rows() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, JobSettings::default(), "0").await;
        let (from, to) = window();
        let (status, started) = c.start(json!({"from": rfc(from), "to": rfc(to)})).await;
        assert_eq!(status, 202, "{started}");
        assert_eq!(started["status"], "running");
        let id = started["backfill_id"].as_str().unwrap().to_owned();
        let done = c.wait(&id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        // 3 entity types × 2 batches (20 + 5 ids) × 2 spans (90 + 10 days).
        let planned = c.planned(2);
        assert_eq!(planned, 12);
        assert_eq!(done["progress"]["jobs_total"], planned, "{done}");
        assert_eq!(done["progress"]["jobs_done"], planned, "{done}");
        let creates = c.creates();
        assert_eq!(creates.len(), planned, "each job submitted once");
        assert_plan_covers(&job_keys(&creates), &c);
        // Polls: the fake answers each job PROCESSING once, then SUCCESS; every poll asks
        // about all 12 jobs in one call (X takes ≤ 200 ids), and no other job list is asked.
        let lists = job_calls(&c.app.fake, "GET");
        assert_eq!(lists.len(), 2, "two polls of all the jobs");
        for l in &lists {
            let ids = l.query_param("job_ids").expect("a poll names its jobs");
            assert_eq!(ids.split(',').count(), planned, "{ids}");
        }
        // Every result downloaded without credentials.
        let downloads: Vec<LedgerEntry> = c
            .app
            .fake
            .state()
            .ledger()
            .into_iter()
            .filter(|e| e.path.starts_with("/ton/"))
            .collect();
        assert_eq!(downloads.len(), planned);
        assert!(
            downloads
                .iter()
                .all(|d| d.header("authorization").is_none())
        );

        // The rows are the generator's, in the same rows the hourly sync keeps.
        let q = format!("entity=campaign&from={}&to={}", rfc(from), rfc(to));
        let rows = c.stats(&q).await;
        let expected = expected_campaigns(&c.app.fake, &c.account, from, to, &HashMap::new());
        assert!(expected.len() > 1000, "the seeded world delivers");
        check_rows(&rows, &expected, "USD");
        assert!(
            rows.iter()
                .all(|r| r["fx_rate"] == "1" && !r["spend_usd"].is_null())
        );
        let li = c
            .stats(&format!(
                "entity=line_item&from={}&to={}",
                rfc(from),
                rfc(to)
            ))
            .await;
        assert!(!li.is_empty(), "line items are backfilled too");
        let pt = c
            .stats(&format!(
                "entity=promoted_tweet&from={}&to={}",
                rfc(from),
                rfc(to)
            ))
            .await;
        check_rows_of(
            "PROMOTED_TWEET",
            &pt,
            &expected_promoted_tweets(c.app.fake.state(), &c.account, from, to),
            "USD",
        );
        let stored = done["progress"]["rows"].as_i64().unwrap();
        assert_eq!(stored as usize, rows.len() + li.len() + pt.len(), "{done}");

        // A synchronous sync of the last week rewrites the same rows to the same numbers.
        let (status, run) = c
            .app
            .send(
                Method::POST,
                &c.key,
                &format!("{}?wait=true", c.path("sync")),
                Some(json!({"from": rfc(to - Duration::days(7)), "to": rfc(to)})),
            )
            .await;
        assert_eq!(status, 200, "{run}");
        assert_eq!(run["status"], "succeeded", "{run}");
        let again = c.stats(&q).await;
        assert_eq!(
            by_key(&again),
            by_key(&rows),
            "the sync and the backfill agree"
        );
    }
}

#[tokio::test]
async fn x_concurrency_limit_is_obeyed_and_failed_or_unknown_jobs_are_not_doubled() {
    for db in xads::testing::all_backend_urls().await {
        let jobs = JobSettings {
            concurrency_limit: 2,
            polls: 2,
            ..JobSettings::default()
        };
        let c = connected(&db, jobs, "0").await;
        let prefix = format!("/12/stats/jobs/accounts/{}", c.account);
        // The first job X makes ends FAILED; the second's answer is lost after X made it.
        c.app
            .fake
            .state()
            .add_fault(FaultRule::new(Some("POST"), &prefix, FaultKind::JobFailed).times(1));
        c.app
            .fake
            .state()
            .add_fault(FaultRule::new(Some("POST"), &prefix, FaultKind::DropAfterCommit).times(1));
        let (from, to) = window();
        let (status, started) = c.start(json!({"from": rfc(from), "to": rfc(to)})).await;
        assert_eq!(status, 202, "{started}");
        let done = c.wait(started["backfill_id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["progress"]["jobs_done"], c.planned(2), "{done}");
        let creates = c.creates();
        // X's limit was never hit: no create was refused.
        assert!(
            creates
                .iter()
                .all(|e| e.status == Some(200) || e.fault.is_some()),
            "{:#?}",
            c.app
                .fake
                .state()
                .ledger()
                .into_iter()
                .filter(|e| e.path.starts_with("/12/stats/jobs"))
                .map(|e| (
                    e.method.clone(),
                    e.status,
                    e.fault.clone(),
                    e.query_param("job_ids").map(str::to_owned),
                    e.query_param("count").map(str::to_owned),
                    e.query_param("start_time").map(str::to_owned),
                    e.query_param("entity").map(str::to_owned)
                ))
                .collect::<Vec<_>>()
        );
        let st = c.app.fake.state();
        let all = st.stats_jobs(&c.account);
        assert_eq!(
            all.len(),
            c.planned(2) + 1,
            "the planned jobs and one asked again after X failed it: {all:?}"
        );
        let failed: Vec<&Value> = all.iter().filter(|j| j["status"] == "FAILED").collect();
        assert_eq!(failed.len(), 1, "{all:?}");
        // The failed job's parameters were asked again; nothing else twice (the lost answer was
        // found among the account's jobs at X, not sent again).
        let keys = job_keys(&creates);
        let distinct: BTreeSet<_> = keys.iter().cloned().collect();
        assert_eq!(
            keys.len(),
            distinct.len() + failed[0]["entity_ids"].as_array().unwrap().len()
        );
        assert_plan_covers(&distinct.into_iter().collect::<Vec<_>>(), &c);
        let rows = c
            .stats(&format!(
                "entity=campaign&from={}&to={}",
                rfc(from),
                rfc(to)
            ))
            .await;
        check_rows(
            &rows,
            &expected_campaigns(&c.app.fake, &c.account, from, to, &HashMap::new()),
            "USD",
        );
    }
}

#[tokio::test]
async fn a_job_x_keeps_failing_fails_the_backfill_with_a_clear_error() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, JobSettings::default(), "0").await;
        let prefix = format!("/12/stats/jobs/accounts/{}", c.account);
        c.app
            .fake
            .state()
            .add_fault(FaultRule::new(Some("POST"), &prefix, FaultKind::JobFailed));
        let to = floor_hour(t0()) + Duration::hours(1);
        let (status, started) = c
            .start(json!({"from": rfc(to - Duration::days(5)), "to": rfc(to)}))
            .await;
        assert_eq!(status, 202, "{started}");
        let done = c.wait(started["backfill_id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "failed", "{done}");
        let error = done["error"].as_str().unwrap();
        assert!(
            error.contains("X failed a job of this backfill 3 times"),
            "{error}"
        );
        // 6 jobs (2 batches × 3 entity types), each asked at most 3 times.
        let creates = c.creates();
        assert!(creates.len() <= 3 * c.planned(1), "{}", creates.len());
        let keys = job_keys(&creates);
        let mut per: HashMap<_, usize> = HashMap::new();
        for k in keys {
            *per.entry(k).or_default() += 1;
        }
        assert!(per.values().all(|n| *n <= 3), "{per:?}");
        assert!(per.values().any(|n| *n == 3), "{per:?}");
    }
}

#[tokio::test]
async fn delete_cancels_the_backfill_and_its_jobs_at_x() {
    for db in xads::testing::all_backend_urls().await {
        // Jobs that stay in processing for a long time.
        let jobs = JobSettings {
            polls: 100_000,
            ..JobSettings::default()
        };
        let c = connected(&db, jobs, "0").await;
        let (from, to) = window();
        let (_, started) = c.start(json!({"from": rfc(from), "to": rfc(to)})).await;
        let id = started["backfill_id"].as_str().unwrap().to_owned();
        let planned = c.planned(2);
        for _ in 0..400 {
            if c.creates().len() == planned {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(25)).await;
        }
        assert_eq!(c.creates().len(), planned);
        let (status, b) = c
            .app
            .send(
                Method::DELETE,
                &c.key,
                &c.path(&format!("backfill/{id}")),
                None,
            )
            .await;
        assert_eq!(status, 200, "{b}");
        assert_eq!(b["status"], "cancelled", "{b}");
        // X's jobs: every one cancelled (by the DELETE, or by the runner that found it
        // cancelled), nothing submitted after.
        for _ in 0..200 {
            let st = c.app.fake.state();
            if st
                .stats_jobs(&c.account)
                .iter()
                .all(|j| j["status"] == "CANCELLED")
            {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(25)).await;
        }
        let all = c.app.fake.state().stats_jobs(&c.account);
        assert_eq!(all.len(), c.planned(2));
        assert!(all.iter().all(|j| j["status"] == "CANCELLED"), "{all:?}");
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        assert_eq!(
            c.creates().len(),
            c.planned(2),
            "nothing submitted after the cancel"
        );
        let (_, after) = c
            .app
            .get(&c.key, &c.path(&format!("backfill/{id}?wait=true")))
            .await;
        assert_eq!(after["status"], "cancelled");
        // Cancelling again answers it as it is.
        let (status, again) = c
            .app
            .send(
                Method::DELETE,
                &c.key,
                &c.path(&format!("backfill/{id}")),
                None,
            )
            .await;
        assert_eq!((status, &again["status"]), (200, &json!("cancelled")));
    }
}

#[tokio::test]
async fn another_instance_resumes_a_backfill_without_duplicate_jobs_or_rows() {
    for db in xads::testing::all_backend_urls().await {
        // Each job needs a few polls: the first instance dies with jobs in flight.
        let jobs = JobSettings {
            polls: 6,
            ..JobSettings::default()
        };
        let c = connected(&db, jobs, "0").await;
        let (from, to) = window();
        let (_, started) = c.start(json!({"from": rfc(from), "to": rfc(to)})).await;
        let id = started["backfill_id"].as_str().unwrap().to_owned();
        let planned = c.planned(2);
        for _ in 0..400 {
            if c.creates().len() == planned {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
        assert_eq!(c.creates().len(), planned);
        c.app.crash();
        let before = xads::store::backfills::by_id(&c.app.state.db, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(before.status, "running");
        assert!(
            (before.jobs_done as usize) < c.planned(2),
            "the crash came mid-backfill: {before:?}"
        );

        // A second instance on the same database takes it over once its lease lapsed.
        let app = Application::build(config(&db, &c.app.fake, "0"))
            .await
            .expect("app");
        let state = app.state().clone();
        let addr = app.local_addr();
        state.clock.advance(t0() - Utc::now());
        let server = tokio::spawn(app.run(std::future::pending()));
        let mut done = before;
        for _ in 0..4800 {
            done = xads::store::backfills::by_id(&state.db, &id)
                .await
                .unwrap()
                .unwrap();
            if done.status != "running" {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(25)).await;
        }
        assert_eq!(done.status, "succeeded", "{done:?}");
        assert_eq!(done.jobs_done as usize, c.planned(2));
        // No job submitted twice, no row written twice.
        let creates = c.creates();
        assert_eq!(creates.len(), c.planned(2), "no job submitted twice");
        assert_plan_covers(&job_keys(&creates), &c);
        let tenant = xads::store::tenants::by_api_key(&state.db, &c.key)
            .await
            .unwrap()
            .unwrap()
            .id;
        let n = xads::store::stats::count(&state.db, &tenant, &c.account)
            .await
            .unwrap();
        assert_eq!(n, done.rows, "every row written once");
        // The rows are the generator's (read through the second instance).
        let rows: Value = c
            .app
            .http
            .get(
                format!(
                    "http://{addr}{}?entity=campaign&from={}&to={}",
                    c.path("").trim_end_matches('/'),
                    rfc(from),
                    rfc(to)
                )
                .replace('+', "%2B"),
            )
            .bearer_auth(&c.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        check_rows(
            rows["data"].as_array().unwrap(),
            &expected_campaigns(&c.app.fake, &c.account, from, to, &HashMap::new()),
            "USD",
        );
        server.abort();
    }
}

#[tokio::test]
async fn bad_backfills_are_refused_with_nothing_recorded_and_other_tenants_see_404() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, JobSettings::default(), "0").await;
        let to = floor_hour(t0()) + Duration::hours(1);
        let from = to - Duration::days(3);
        for (body, field, text) in [
            (
                json!({"from": rfc(to), "to": rfc(from)}),
                "from",
                "from must be before to",
            ),
            (json!({"to": rfc(to)}), "from", "from is required"),
            (json!({"from": rfc(from)}), "to", "to is required"),
            (json!({"from": "yesterday", "to": rfc(to)}), "from", ""),
            (
                json!({"from": rfc(to - Duration::days(800)), "to": rfc(to - Duration::days(790))}),
                "from",
                "X keeps analytics",
            ),
            (
                json!({"from": rfc(to - Duration::days(400)), "to": rfc(to)}),
                "from",
                "at most 366 days",
            ),
            (
                json!({"from": rfc(from), "to": rfc(to), "segment": "COLOR"}),
                "segment",
                "unknown segment",
            ),
            (
                json!({"from": rfc(from), "to": rfc(to), "segment": "METROS"}),
                "country",
                "needs a country",
            ),
            (
                json!({"from": rfc(from), "to": rfc(to), "country": "96683cc9126741d1"}),
                "country",
                "METROS only",
            ),
            (
                json!({"from": rfc(from), "to": rfc(to), "colour": 1}),
                "body",
                "unknown field",
            ),
        ] {
            let (status, e) = c.start(body.clone()).await;
            assert_eq!(status, 422, "{body} → {e}");
            assert_eq!(e["error"]["code"], "validation_failed", "{e}");
            assert_eq!(e["error"]["field"], field, "{body} → {e}");
            assert!(
                e["error"]["message"].as_str().unwrap().contains(text),
                "{body} → {e}"
            );
        }
        let (status, e) = c
            .app
            .http
            .post(format!("{}{}", c.app.base, c.path("backfill")))
            .bearer_auth(&c.key)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .map(|r| (r.status().as_u16(), r))
            .unwrap();
        assert_eq!(status, 400, "{:?}", e.text().await);
        let tenant = xads::store::tenants::by_api_key(&c.app.state.db, &c.key)
            .await
            .unwrap()
            .unwrap()
            .id;
        assert!(
            xads::store::backfills::latest(&c.app.state.db, &tenant, None)
                .await
                .unwrap()
                .is_none(),
            "nothing recorded"
        );
        assert!(c.creates().is_empty(), "nothing asked of X");

        // An unknown account; then a real backfill another tenant cannot see.
        let (status, _) = c
            .app
            .send(
                Method::POST,
                &c.key,
                "/api/v1/x_ads/accounts/not_mine/stats/backfill",
                Some(json!({"from": rfc(from), "to": rfc(to)})),
            )
            .await;
        assert_eq!(status, 404);
        let (status, b) = c.start(json!({"from": rfc(from), "to": rfc(to)})).await;
        assert_eq!(status, 202, "{b}");
        assert_eq!(
            b["progress"],
            json!({"jobs_done": 0, "jobs_total": 0, "rows": 0})
        );
        let id = b["backfill_id"].as_str().unwrap();
        let other = c.app.tenant("Other").await;
        for method in [Method::GET, Method::DELETE] {
            let (status, e) = c
                .app
                .send(
                    method.clone(),
                    &other,
                    &c.path(&format!("backfill/{id}")),
                    None,
                )
                .await;
            assert_eq!(status, 404, "{method} {e}");
            assert_eq!(e["error"]["code"], "not_found");
        }
        for bad in ["bf_unknown00", "bf_0123456789abcdef0123", "x%2Fy"] {
            let (status, _) = c.app.get(&c.key, &c.path(&format!("backfill/{bad}"))).await;
            assert_eq!(status, 404, "{bad}");
        }
        let done = c.wait(id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
}

#[tokio::test]
async fn a_new_connection_backfills_by_itself_and_the_tile_shows_it() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, JobSettings::default(), "3").await;
        let end = floor_hour(t0()) + Duration::hours(1);
        let from = end - Duration::days(3);
        let tenant = xads::store::tenants::by_api_key(&c.app.state.db, &c.key)
            .await
            .unwrap()
            .unwrap()
            .id;
        let seed = c.app.fake.state().seed_info();
        let accounts = [
            &seed.usd_account_id,
            &seed.jpy_account_id,
            &seed.kwd_account_id,
        ];
        // Per account of the connection, two backfills of the 3 days to the end of the current
        // hour, both the connect's: the history, and the same days split by platform.
        let mut all = Vec::new();
        let mut histories = BTreeSet::new();
        for account in accounts {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM backfills WHERE tenant_id = $1 AND account_id = $2",
            )
            .bind(&tenant)
            .bind(account.as_str())
            .fetch_all(c.app.state.db.pool())
            .await
            .unwrap();
            let mut segments = Vec::new();
            for id in &ids {
                let b = xads::store::backfills::get(&c.app.state.db, &tenant, id)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(b.trigger, "connect", "{b:?}");
                assert_eq!(b.window, (from, end), "{b:?}");
                assert_eq!(b.country, None, "{b:?}");
                if b.segment.is_none() {
                    histories.insert(b.id.clone());
                }
                segments.push(b.segment);
            }
            segments.sort();
            assert_eq!(
                segments,
                vec![None, Some("PLATFORMS".to_owned())],
                "{db} {account}"
            );
            // The account's latest backfill is its history.
            let latest = xads::store::backfills::latest(&c.app.state.db, &tenant, Some(account))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no backfill for {account}"));
            assert!(histories.contains(&latest.id), "{latest:?}");
            all.extend(ids);
        }
        // The Integrations page reads every account's latest in one query: the same ones.
        let by_account = xads::store::backfills::latest_by_account(&c.app.state.db, &tenant)
            .await
            .unwrap();
        assert_eq!(by_account.len(), accounts.len(), "{by_account:?}");
        for account in accounts {
            assert!(
                histories.contains(&by_account[account.as_str()].id),
                "{db} {account}"
            );
        }
        // The tile shows the unsegmented history the connect started.
        let (status, tiles) = c.app.get(&c.key, "/api/v1/integrations").await;
        assert_eq!(status, 200, "{tiles}");
        let b = &tiles["data"][0]["sync"]["backfill"];
        assert_eq!(b["trigger"], "connect", "{b}");
        assert_eq!(b["segment"], Value::Null, "{b}");
        assert_eq!(b["from"], rfc(from));
        assert!(
            histories.contains(b["backfill_id"].as_str().unwrap()),
            "{b}"
        );
        // Every one of them succeeds (six at once).
        for id in &all {
            let mut last = None;
            for _ in 0..4800 {
                let b = xads::store::backfills::by_id(&c.app.state.db, id)
                    .await
                    .unwrap()
                    .unwrap();
                if b.status != "running" {
                    last = Some(b);
                    break;
                }
                tokio::time::sleep(StdDuration::from_millis(25)).await;
            }
            let b = last.unwrap_or_else(|| panic!("backfill {id} still running"));
            assert_eq!(b.status, "succeeded", "{b:?}");
        }
        // The tile shows the latest backfill with its progress.
        let (_, tiles) = c.app.get(&c.key, "/api/v1/integrations").await;
        let shown = &tiles["data"][0]["sync"]["backfill"];
        assert_eq!(shown["segment"], Value::Null, "{shown}");
        assert_eq!(shown["status"], "succeeded", "{shown}");
        assert!(
            shown["progress"]["jobs_total"].as_i64().unwrap() > 0,
            "{shown}"
        );
        let rows = c
            .stats(&format!(
                "entity=campaign&from={}&to={}",
                rfc(from),
                rfc(end)
            ))
            .await;
        check_rows(
            &rows,
            &expected_campaigns(&c.app.fake, &c.account, from, end, &HashMap::new()),
            "USD",
        );
        // By platform, each campaign's impressions add up to its unsegmented total.
        let window = format!("granularity=total&from={}&to={}", rfc(from), rfc(end));
        let mut by_platform: HashMap<String, u64> = HashMap::new();
        let mut platforms = BTreeSet::new();
        for r in c.stats(&format!("segment=PLATFORMS&{window}")).await {
            assert_eq!(r["segment_type"], "PLATFORMS", "{r}");
            assert_eq!(r["entity"], "CAMPAIGN", "{r}");
            platforms.insert(r["segment_name"].as_str().unwrap().to_owned());
            *by_platform
                .entry(r["entity_id"].as_str().unwrap().to_owned())
                .or_default() += r["impressions"].as_u64().unwrap();
        }
        assert!(platforms.len() > 1, "{platforms:?}");
        let totals: HashMap<String, u64> = c
            .stats(&window)
            .await
            .iter()
            .map(|r| {
                (
                    r["entity_id"].as_str().unwrap().to_owned(),
                    r["impressions"].as_u64().unwrap(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        assert!(!totals.is_empty());
        by_platform.retain(|_, n| *n > 0);
        assert_eq!(by_platform, totals, "{db}");
        // The Integrations page says, per account, how much history is loaded.
        let cookie = crate::ui::login(&c.app, &c.key).await;
        let (status, html) = crate::ui::page(&c.app, &cookie, "/integrations").await;
        assert_eq!(status, 200);
        assert!(html.contains("<ul id=\"history\">"), "{html}");
        assert_eq!(html.matches("3 days loaded").count(), 3, "{html}");
    }
}

#[tokio::test]
async fn xads_sync_from_to_drives_the_same_backfill_with_plain_progress_lines() {
    let db = xads::testing::sqlite_url();
    let (app, key) = TestApp::dry_run_connected(&db).await;
    let account = app.fake.state().seed_info().usd_account_id;
    let to = floor_hour(app.fake.state().now());
    let from = to - Duration::days(2);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_xads"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars_for(&db, &app.fake))
        .args([
            "sync",
            "--account",
            &account,
            "--from",
            &rfc(from),
            "--to",
            &rfc(to),
        ])
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{account} bf_")), "{stdout}");
    assert!(stdout.contains(": succeeded (3 jobs, "), "{stdout}");
    // Not a terminal: plain progress lines, no bar drawing.
    assert!(
        stderr.contains(&format!("backfill {account}: ")),
        "{stderr}"
    );
    assert!(!stderr.contains('\r'), "{stderr}");
    // Through X's jobs, recorded like the API's.
    let creates = job_calls(&app.fake, "POST");
    assert_eq!(
        creates.len(),
        3,
        "campaigns, line items and promoted tweets, one job each"
    );
    let tenant = xads::store::tenants::by_api_key(&app.state.db, &key)
        .await
        .unwrap()
        .unwrap()
        .id;
    let b = xads::store::backfills::latest(&app.state.db, &tenant, Some(&account))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (b.trigger.as_str(), b.status.as_str()),
        ("cli", "succeeded")
    );
    assert!(b.rows > 0);
    assert_eq!(
        xads::store::stats::count(&app.state.db, &tenant, &account)
            .await
            .unwrap(),
        b.rows
    );
}

#[tokio::test]
async fn a_segmented_backfill_splits_at_45_days_and_stores_segments_beside_the_totals() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, JobSettings::default(), "0").await;
        let to = floor_hour(t0()) + Duration::hours(1);
        let from = to - Duration::days(50);
        let (status, started) = c
            .start(json!({"from": rfc(from), "to": rfc(to), "segment": "platforms"}))
            .await;
        assert_eq!(status, 202, "{started}");
        assert_eq!(started["segment"], "PLATFORMS");
        let done = c.wait(started["backfill_id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        // 3 entity types × 2 batches × 2 spans (45 + 5 days).
        let creates = c.creates();
        assert_eq!(creates.len(), c.planned(2));
        for e in &creates {
            assert_eq!(e.query_param("segmentation_type"), Some("PLATFORMS"));
            let (f, t) = (
                at(e.query_param("start_time").unwrap()),
                at(e.query_param("end_time").unwrap()),
            );
            assert!(
                (f, t) == (from, from + Duration::days(45))
                    || (f, t) == (from + Duration::days(45), to),
                "{f} → {t}"
            );
        }
        // Never mixed into the unsegmented rows.
        let tenant = xads::store::tenants::by_api_key(&c.app.state.db, &c.key)
            .await
            .unwrap()
            .unwrap()
            .id;
        assert_eq!(
            xads::store::stats::count(&c.app.state.db, &tenant, &c.account)
                .await
                .unwrap(),
            0
        );
        // Per campaign, the platforms add up to the generator's totals.
        let rows = c
            .stats(&format!(
                "entity=campaign&segment=PLATFORMS&granularity=total&from={}&to={}",
                rfc(from),
                rfc(to)
            ))
            .await;
        assert!(!rows.is_empty());
        let mut got: HashMap<String, (u64, i64)> = HashMap::new();
        let mut names = BTreeSet::new();
        for r in &rows {
            assert_eq!(r["segment_type"], "PLATFORMS", "{r}");
            names.insert(r["segment_name"].as_str().unwrap().to_owned());
            let e = got
                .entry(r["entity_id"].as_str().unwrap().to_owned())
                .or_default();
            e.0 += r["impressions"].as_u64().unwrap();
            e.1 += r["spend_local_micro"].as_i64().unwrap();
        }
        assert!(names.len() > 1, "{names:?}");
        let mut want: HashMap<String, (u64, i64)> = HashMap::new();
        for ((id, _), m) in expected_campaigns(&c.app.fake, &c.account, from, to, &HashMap::new()) {
            let e = want.entry(id).or_default();
            e.0 += m.impressions;
            e.1 += m.billed_charge_local_micro;
        }
        assert_eq!(got, want);

        // METROS goes with its country to X.
        let (status, metros) = c
            .start(json!({
                "from": rfc(to - Duration::days(2)), "to": rfc(to),
                "segment": "METROS", "country": "96683cc9126741d1"
            }))
            .await;
        assert_eq!(status, 202, "{metros}");
        let done = c.wait(metros["backfill_id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let last = c.creates().pop().unwrap();
        assert_eq!(last.query_param("segmentation_type"), Some("METROS"));
        assert_eq!(last.query_param("country"), Some("96683cc9126741d1"));
    }
}

/// Per (entity id, segment name): what the fake's generator says the entities of `level`
/// (`CAMPAIGN`, `LINE_ITEM` or `PROMOTED_TWEET`) delivered over `[from, to)` split by `segmentation`: (spend in
/// micros, installs of app line items).
fn expected_segments(
    c: &Ctx,
    level: &str,
    segmentation: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> HashMap<(String, String), (i64, u64)> {
    let st = c.app.fake.state();
    let seed = st.config().seed;
    let names: Vec<String> = xads_fake::segments_of(seed, &c.account, segmentation, None)
        .into_iter()
        .map(|s| s.name)
        .collect();
    let apps: BTreeSet<String> = st
        .line_items(&c.account)
        .into_iter()
        .filter(|l| is_app_objective(&l.objective))
        .map(|l| l.id)
        .collect();
    let mut out: HashMap<(String, String), (i64, u64)> = HashMap::new();
    let mut add = |id: &String, key: &str, h, m| {
        for (name, part) in names
            .iter()
            .zip(split_hour(seed, key, h, segmentation, m, names.len()))
        {
            let e = out.entry((id.clone(), name.clone())).or_default();
            e.0 += part.billed_charge_local_micro;
            e.1 += part.installs();
        }
    };
    if level == "PROMOTED_TWEET" {
        // Each promoted tweet delivers on its own generator key (installs already applied).
        for ((pt, h), m) in expected_promoted_tweets(c.app.fake.state(), &c.account, from, to) {
            add(&pt, &pt, h, m);
        }
    }
    let leaves = if level == "PROMOTED_TWEET" {
        Vec::new()
    } else {
        served_line_item_hours(&c.app.fake, &c.account, from, to, &HashMap::new())
    };
    for (campaign, li, h, m) in leaves {
        let m = if apps.contains(&li) {
            m
        } else {
            m.without_installs()
        };
        let id = if level == "CAMPAIGN" {
            campaign
        } else {
            li.clone()
        };
        add(&id, &li, h, m);
    }
    // X answers no row for a segment without delivery.
    out.retain(|_, (spend, installs)| *spend != 0 || *installs != 0);
    out
}

#[tokio::test]
async fn a_segmented_backfill_of_an_app_account_stores_installs_and_cpi_per_platform() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected_with(
            &db,
            FakeConfig {
                app_campaigns: 1,
                ..fake_config(JobSettings::default())
            },
            "0",
        )
        .await;
        let st = c.app.fake.state();
        let app_lis: Vec<_> = st
            .line_items(&c.account)
            .into_iter()
            .filter(|l| is_app_objective(&l.objective))
            .collect();
        assert_eq!(app_lis.len(), 1, "one app line item");
        let (app_campaign, app_li) = (app_lis[0].campaign_id.clone(), app_lis[0].id.clone());
        let app_pts: Vec<String> = st
            .promoted_tweets(&c.account)
            .into_iter()
            .filter(|p| p.line_item_id == app_li)
            .map(|p| p.id)
            .collect();
        assert_eq!(app_pts.len(), 1, "one promoted tweet of the app line item");
        let app_pt = app_pts[0].clone();
        let to = floor_hour(t0()) + Duration::hours(1);
        let from = to - Duration::days(3);
        let (status, started) = c
            .start(json!({"from": rfc(from), "to": rfc(to), "segment": "PLATFORMS"}))
            .await;
        assert_eq!(status, 202, "{started}");
        let done = c.wait(started["backfill_id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "succeeded", "{done}");

        // 3 entity types × 2 batches, and MOBILE_CONVERSION in a job of its own, segmented
        // alike, about the app campaign, the app line item and its promoted tweet (each in its
        // batch) alone.
        let creates = c.creates();
        let (mobile, main): (Vec<_>, Vec<_>) = creates
            .iter()
            .partition(|e| e.query_param("metric_groups") == Some("MOBILE_CONVERSION"));
        assert_eq!(main.len(), c.planned(1));
        let mut asked: Vec<(&str, &str)> = mobile
            .iter()
            .map(|e| {
                assert_eq!(e.query_param("segmentation_type"), Some("PLATFORMS"));
                assert_eq!(
                    (e.query_param("start_time"), e.query_param("end_time")),
                    (Some(rfc(from).as_str()), Some(rfc(to).as_str()))
                );
                (
                    e.query_param("entity").unwrap(),
                    e.query_param("entity_ids").unwrap(),
                )
            })
            .collect();
        asked.sort();
        assert_eq!(
            asked,
            vec![
                ("CAMPAIGN", app_campaign.as_str()),
                ("LINE_ITEM", app_li.as_str()),
                ("PROMOTED_TWEET", app_pt.as_str())
            ]
        );
        assert!(
            main.iter()
                .all(|e| !e.query_param("metric_groups").unwrap().contains("MOBILE"))
        );

        // Per platform in total: spend, installs (the generator's split of the app line
        // item's post-view + post-engagement installs) and cost per install, exact; null
        // installs (not asked) and no cost per install for the web campaigns.
        for (level, entity) in [
            ("CAMPAIGN", "campaign"),
            ("LINE_ITEM", "line_item"),
            ("PROMOTED_TWEET", "promoted_tweet"),
        ] {
            let want = expected_segments(&c, level, "PLATFORMS", from, to);
            let rows = c
                .stats(&format!(
                    "entity={entity}&segment=PLATFORMS&granularity=total&from={}&to={}",
                    rfc(from),
                    rfc(to)
                ))
                .await;
            let app_id = match level {
                "CAMPAIGN" => &app_campaign,
                "LINE_ITEM" => &app_li,
                _ => &app_pt,
            };
            let mut got = HashMap::new();
            let mut app_installs = 0;
            for r in &rows {
                let id = r["entity_id"].as_str().unwrap().to_owned();
                let name = r["segment_name"].as_str().unwrap().to_owned();
                let spend = r["spend_local_micro"].as_i64().unwrap();
                if &id == app_id {
                    let installs = r["installs"].as_u64().unwrap_or_else(|| panic!("{r}"));
                    app_installs += installs;
                    assert_eq!(r["cpi_usd"], json!(hand_per(spend, installs)), "{r}");
                    got.insert((id, name), (spend, installs));
                } else {
                    assert!(r["installs"].is_null(), "not asked: {r}");
                    assert!(r["cpi_usd"].is_null(), "{r}");
                    got.insert((id, name), (spend, 0));
                }
            }
            assert_eq!(got, want, "{db} {level}");
            assert!(
                app_installs > 10,
                "the app line item installs: {app_installs}"
            );
            // The platforms add up to the generator's unsegmented installs.
            let unsegmented: u64 = if level == "PROMOTED_TWEET" {
                expected_promoted_tweets(c.app.fake.state(), &c.account, from, to)
                    .into_iter()
                    .filter(|((pt, _), _)| *pt == app_pt)
                    .map(|(_, m)| m.installs())
                    .sum()
            } else {
                served_line_item_hours(&c.app.fake, &c.account, from, to, &HashMap::new())
                    .into_iter()
                    .filter(|(_, li, _, _)| *li == app_li)
                    .map(|(_, _, _, m)| m.installs())
                    .sum()
            };
            assert_eq!(app_installs, unsegmented);
        }

        // Unsegmented, the same installs land in the hourly rows, merged into the main job's.
        let (status, started) = c.start(json!({"from": rfc(from), "to": rfc(to)})).await;
        assert_eq!(status, 202, "{started}");
        let done = c.wait(started["backfill_id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let totals = c
            .stats(&format!(
                "entity=campaign&granularity=total&from={}&to={}",
                rfc(from),
                rfc(to)
            ))
            .await;
        let want = expected_campaigns(&c.app.fake, &c.account, from, to, &HashMap::new());
        for t in &totals {
            let id = t["entity_id"].as_str().unwrap();
            let sum = want
                .iter()
                .filter(|((c, _), _)| c == id)
                .fold(HourMetrics::default(), |a, (_, m)| a + *m);
            assert_eq!(
                t["spend_local_micro"],
                json!(sum.billed_charge_local_micro),
                "{t}"
            );
            if id == app_campaign {
                assert_eq!(t["installs"], json!(sum.installs()), "{t}");
                assert_eq!(
                    t["cpi_usd"],
                    json!(hand_per(sum.billed_charge_local_micro, sum.installs())),
                    "{t}"
                );
            } else {
                assert!(t["installs"].is_null(), "{t}");
            }
        }
        assert!(totals.iter().any(|t| t["entity_id"] == json!(app_campaign)));
    }
}

#[tokio::test]
async fn a_backfill_refused_for_x_job_limit_with_none_of_its_own_in_processing_goes_on_later() {
    for db in xads::testing::all_backend_urls().await {
        // X takes 2 jobs of the account at a time; each needs 4 polls.
        let jobs = JobSettings {
            concurrency_limit: 2,
            polls: 4,
            ..JobSettings::default()
        };
        let c = connected(&db, jobs, "0").await;
        let to = floor_hour(t0()) + Duration::hours(1);
        let first = json!({"from": rfc(to - Duration::days(5)), "to": rfc(to)});
        let (status, a) = c.start(first).await;
        assert_eq!(status, 202, "{a}");
        for _ in 0..400 {
            if c.creates().len() >= 2 {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
        // The first holds both slots: the second's first create is refused, and no poll of its
        // own would tell it when a slot frees.
        let second = json!({"from": rfc(to - Duration::days(2)), "to": rfc(to)});
        let (status, b) = c.start(second).await;
        assert_eq!(status, 202, "{b}");
        for started in [&a, &b] {
            let done = c.wait(started["backfill_id"].as_str().unwrap()).await;
            assert_eq!(done["status"], "succeeded", "{done}");
            assert_eq!(done["progress"]["jobs_done"], c.planned(1), "{done}");
        }
        let creates = c.creates();
        let refused = creates.iter().filter(|e| e.status == Some(400)).count();
        assert!(refused >= 1, "X's limit was met on the way");
        assert_eq!(
            creates.len() - refused,
            2 * c.planned(1),
            "each job made once at X"
        );
        assert_eq!(
            c.app.fake.state().stats_jobs(&c.account).len(),
            2 * c.planned(1)
        );
        // A refusal is no attempt: every job was asked of X once.
        for started in [&a, &b] {
            let id = started["backfill_id"].as_str().unwrap();
            let recorded = xads::store::backfills::jobs(&c.app.state.db, id)
                .await
                .unwrap();
            assert_eq!(recorded.len(), c.planned(1));
            assert!(recorded.iter().all(|j| j.attempts == 1), "{recorded:?}");
        }
    }
}
