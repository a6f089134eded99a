//! Experiments against the fake X (PRODUCT.md §4.8).

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{AccountCtx, TestApp};

type Ctx = AccountCtx;

async fn ctx(live: bool) -> Ctx {
    AccountCtx::new(&xads::testing::sqlite_url(), live).await
}

/// The campaign and request body most experiment tests start from.
trait ExperimentSetup {
    async fn campaign(&self) -> String;
    /// A two-variant experiment on a new campaign, created and started: (id, the started
    /// experiment, its start).
    async fn started(&self, schedule: Value) -> (String, Value, DateTime<Utc>);
    fn body(&self, campaign: &str, variants: usize, schedule: Value) -> Value;
}

impl ExperimentSetup for AccountCtx {
    async fn started(&self, schedule: Value) -> (String, Value, DateTime<Utc>) {
        let campaign = self.campaign().await;
        let (status, exp) = self
            .send(
                Method::POST,
                "experiments",
                Some(self.body(&campaign, 2, schedule)),
            )
            .await;
        assert_eq!(status, 201, "{exp}");
        let id = exp["id"].as_str().unwrap().to_owned();
        let (status, started) = self
            .send(Method::POST, &format!("experiments/{id}/start"), None)
            .await;
        assert_eq!(status, 200, "{started}");
        assert_eq!(started["status"], "running");
        let start = started["started_at"].as_str().unwrap().parse().unwrap();
        (id, started, start)
    }
    async fn campaign(&self) -> String {
        let (status, c) = self
            .send(Method::POST, "campaigns", Some(json!({"name": "Experiment home", "funding_instrument_id": self.fi, "daily_budget_amount_local_micro": 50_000_000})))
            .await;
        assert_eq!(status, 201, "{c}");
        c["id"].as_str().unwrap().to_owned()
    }
    fn body(&self, campaign: &str, variants: usize, schedule: Value) -> Value {
        let vs: Vec<Value> = (0..variants)
            .map(|i| {
                json!({
                    "name": format!("V{i}"), "control": i == 0, "tweet_id": self.tweets[i],
                    "line_item": {"objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
                        "placements": ["ALL_ON_TWITTER"], "bid_amount_local_micro": 1_000_000,
                        "daily_budget_amount_local_micro": 5_000_000}
                })
            })
            .collect();
        json!({"name": "Headline test", "campaign_id": campaign, "primary_metric": "ctr",
            "schedule": schedule, "stop": {"min_impressions": 1000, "max_days": 14}, "variants": vs})
    }
}

/// The status of each of `ids`' line items at X (the fake's state), in their order.
fn statuses_at_x(c: &Ctx, ids: &[String]) -> Vec<String> {
    let at_x = c.app.fake.state().line_items(&c.account);
    ids.iter()
        .map(|id| {
            at_x.iter()
                .find(|l| &l.id == id)
                .map(|l| l.entity_status.clone())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn creating_ships_the_control_live_and_the_treatments_paused_until_start() {
    let c = ctx(true).await;
    let campaign = c.campaign().await;
    let (status, exp) = c
        .send(
            Method::POST,
            "experiments",
            Some(c.body(&campaign, 3, json!({"mode": "rotate", "slot_hours": 6}))),
        )
        .await;
    assert_eq!(status, 201, "{exp}");
    assert_eq!(exp["status"], "ready");
    assert!(exp["note"].as_str().unwrap().contains("quasi-experiment"));
    let variants = exp["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 3);
    let line_items: Vec<_> = c
        .app
        .fake
        .state()
        .line_items(&c.account)
        .into_iter()
        .filter(|l| l.campaign_id == campaign)
        .collect();
    assert_eq!(
        line_items.len(),
        3,
        "one line item per variant under the one campaign"
    );
    let ids: Vec<String> = variants
        .iter()
        .map(|v| v["line_item_id"].as_str().unwrap().to_owned())
        .collect();
    // PRODUCT §4.8: the control (variant 0) ships unpaused, the treatments paused until Start.
    assert_eq!(statuses_at_x(&c, &ids), ["ACTIVE", "PAUSED", "PAUSED"]);
    // The creates themselves asked X for those statuses (no toggle followed).
    let creates: Vec<String> = c
        .app
        .fake
        .state()
        .ledger()
        .into_iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/line_items"))
        .map(|e| format!("{}&{}", e.query, e.body_text))
        .filter(|params| params.contains(&format!("campaign_id={campaign}")))
        .collect();
    assert_eq!(creates.len(), 3, "{creates:?}");
    assert_eq!(
        creates
            .iter()
            .filter(|p| p.contains("entity_status=PAUSED"))
            .count(),
        2,
        "{creates:?}"
    );
    for (i, v) in variants.iter().enumerate() {
        assert_eq!(v["paused"], i != 0, "variant {i}");
        let pts: Vec<_> = c
            .app
            .fake
            .state()
            .promoted_tweets(&c.account)
            .into_iter()
            .filter(|p| p.line_item_id == ids[i])
            .collect();
        assert_eq!(pts.len(), 1);
        assert_eq!(pts[0].tweet_id, c.tweets[i]);
    }
    let (_, list) = c.send(Method::GET, "experiments", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // Start runs the first slot's variant (and only it); Stop pauses every one again.
    let id = exp["id"].as_str().unwrap();
    let (status, started) = c
        .send(Method::POST, &format!("experiments/{id}/start"), None)
        .await;
    assert_eq!(status, 200, "{started}");
    let live = xads::experiments::schedule::Schedule::Rotate { slot_hours: 6 }.live_in(0, 3);
    assert_eq!(live.len(), 1);
    let expected: Vec<&str> = (0..3)
        .map(|i| {
            if live.contains(&i) {
                "ACTIVE"
            } else {
                "PAUSED"
            }
        })
        .collect();
    assert_eq!(statuses_at_x(&c, &ids), expected);
    let (status, stopped) = c
        .send(Method::POST, &format!("experiments/{id}/stop"), None)
        .await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(statuses_at_x(&c, &ids), ["PAUSED", "PAUSED", "PAUSED"]);
}

#[tokio::test]
async fn a_week_of_rotation_sends_exactly_the_expected_toggles_once() {
    let c = ctx(true).await;
    let (id, started, start) = c.started(json!({"mode": "rotate", "slot_hours": 6})).await;
    assert!(started["next_switch"].as_str().is_some());
    let line_item_puts = |app: &TestApp| {
        app.fake
            .state()
            .ledger()
            .iter()
            .filter(|e| e.method == "PUT" && e.path.contains("/line_items/"))
            .count()
    };
    let before = line_item_puts(&c.app);

    // A second instance on the same database runs the runner too.
    let mut vars = crate::helpers::vars_for(c.app.state.config.database_url.as_str(), &c.app.fake);
    vars.insert("X_ADS_LIVE_MODE".into(), "true".into());
    let other = xads::app::AppState::from_config(xads::config::Config::from_vars(&vars).unwrap())
        .await
        .unwrap();
    let schedule = xads::experiments::schedule::Schedule::Rotate { slot_hours: 6 };
    for hour in 0..(7 * 24) {
        let now = start + Duration::hours(hour) + Duration::minutes(1);
        let (a, b) = tokio::join!(
            xads::experiments::runner::tick(&c.app.state, "runner-a", now),
            xads::experiments::runner::tick(&other, "runner-b", now)
        );
        a.unwrap();
        b.unwrap();
    }
    // Both instances ran every tick; the experiment never drifted (every toggle was ours).
    let (_, view) = c
        .send(Method::GET, &format!("experiments/{id}"), None)
        .await;
    assert_eq!(view["problem"], Value::Null, "{view}");
    // Expected: at every slot boundary where the live variant changes, one pause + one resume.
    let slots = 7 * 24 / 6;
    let changes = (1..slots)
        .filter(|&s| schedule.live_in(s, 2) != schedule.live_in(s - 1, 2))
        .count();
    let initial = usize::from(schedule.live_in(0, 2) != vec![0]) * 2;
    assert_eq!(line_item_puts(&c.app) - before, changes * 2 + initial);
    // Each slot claimed and applied exactly once.
    let claimed = xads::store::experiments::slots(&c.app.state.db, &id)
        .await
        .unwrap();
    assert_eq!(claimed.len() as i64, slots);
    assert!(claimed.iter().all(|(_, _, done)| done.is_some()));
    // Balanced across the hours of the day: per 6-hour slot of the day, each variant's count
    // differs by at most one over the week.
    let mut per = [[0i32; 4]; 2];
    for (slot, live, _) in &claimed {
        per[live.parse::<usize>().unwrap()][(*slot % 4) as usize] += 1;
    }
    for j in 0..4 {
        assert!((per[0][j] - per[1][j]).abs() <= 1, "{per:?}");
    }
}

#[tokio::test]
async fn a_change_made_outside_xads_is_reported_not_fought() {
    let c = ctx(true).await;
    let (id, started, start) = c.started(json!({"mode": "rotate", "slot_hours": 6})).await;
    let treatment = started["variants"][1]["line_item_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Someone resumes the paused treatment in X Ads Manager.
    let tenant = xads::store::tenants::by_api_key(&c.app.state.db, &c.key)
        .await
        .unwrap()
        .unwrap();
    let session = xads::x::XSession::for_tenant(&c.app.state, &tenant.id)
        .await
        .unwrap();
    let (account, li) = (c.account.clone(), treatment.clone());
    session
        .call(|x| {
            let (account, li) = (account.clone(), li.clone());
            async move {
                x.update_line_item(
                    &account,
                    &li,
                    &xads_client::models::LineItemUpdate {
                        entity_status: Some(xads_client::models::EntityStatus::Active),
                        ..Default::default()
                    },
                    &xads_client::CallOptions::new(),
                )
                .await
            }
        })
        .await
        .unwrap();
    let puts_before = c
        .app
        .fake
        .state()
        .ledger()
        .iter()
        .filter(|e| e.method == "PUT" && e.path.ends_with(&treatment))
        .count();
    xads::experiments::runner::tick(
        &c.app.state,
        "runner",
        start + Duration::hours(6) + Duration::minutes(1),
    )
    .await
    .unwrap();
    let puts_after = c
        .app
        .fake
        .state()
        .ledger()
        .iter()
        .filter(|e| e.method == "PUT" && e.path.ends_with(&treatment))
        .count();
    assert_eq!(
        puts_before, puts_after,
        "the runner did not touch the drifted line item"
    );
    let (_, now) = c
        .send(Method::GET, &format!("experiments/{id}"), None)
        .await;
    assert!(now["problem"].as_str().unwrap().contains("drift"), "{now}");
    assert!(
        now["variants"][1]["drift"]
            .as_str()
            .unwrap()
            .contains("outside xads")
    );
}

/// One variant's stored totals: (impressions, clicks, conversions, spend in USD).
type Seeded<'a> = (i64, i64, i64, &'a str);

async fn seed_line_item_stats(
    app: &TestApp,
    (tenant, account, line_item): (&str, &str, &str),
    from: DateTime<Utc>,
    (imp, clicks, conv, spend_usd): Seeded<'_>,
) {
    sqlx::query(
        "INSERT INTO stats_hourly (tenant_id, account_id, entity, entity_id, hour, placement, impressions, clicks,
            engagements, retweets, likes, replies, follows, billed_engagements, conversions, currency,
            spend_local_micro, fx_rate, fx_rate_date, fx_source, spend_usd, fetched_at)
         VALUES ($1, $2, 'LINE_ITEM', $3, $4, 'ALL_ON_TWITTER', $5, $6, $6, 0, 0, 0, 0, $6, $7, 'USD', 0, '1', '2026-11-01', 'bundled', $8, 0)",
    )
    .bind(tenant)
    .bind(account)
    .bind(line_item)
    .bind((from + Duration::hours(1)).timestamp_millis())
    .bind(imp)
    .bind(clicks)
    .bind(conv)
    .bind(spend_usd)
    .execute(app.state.db.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn results_match_a_hand_calculation_and_conclude_keeps_the_winner() {
    let c = ctx(true).await;
    let (id, started, start) = c.started(json!({"mode": "concurrent"})).await;
    assert_eq!(
        started["variants"][1]["paused"], false,
        "concurrent: all live"
    );
    let tenant = xads::store::tenants::by_api_key(&c.app.state.db, &c.key)
        .await
        .unwrap()
        .unwrap();
    let control = started["variants"][0]["line_item_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let treatment = started["variants"][1]["line_item_id"]
        .as_str()
        .unwrap()
        .to_owned();
    seed_line_item_stats(
        &c.app,
        (&tenant.id, &c.account, &control),
        start,
        (100_000, 2_000, 100, "1000.000000"),
    )
    .await;
    seed_line_item_stats(
        &c.app,
        (&tenant.id, &c.account, &treatment),
        start,
        (100_000, 2_600, 130, "1040.000000"),
    )
    .await;

    let (status, r) = c
        .send(Method::GET, &format!("experiments/{id}/results"), None)
        .await;
    assert_eq!(status, 200, "{r}");
    let v0 = &r["variants"][0];
    let v1 = &r["variants"][1];
    // Hand calculation: CTR 2 000 / 100 000 = 0.02; Wilson 95 % [0.019151, 0.020886].
    assert_eq!(v0["ctr"]["value"], json!(0.02));
    assert!(
        (v0["ctr"]["low"].as_f64().unwrap() - 0.019_151).abs() < 2e-6,
        "{v0}"
    );
    assert!(
        (v0["ctr"]["high"].as_f64().unwrap() - 0.020_886).abs() < 2e-6,
        "{v0}"
    );
    // CPC 1 000 / 2 000 = 0.5 USD; CPA 1 040 / 130 = 8.0 USD; spend kept as a decimal string.
    assert_eq!(v0["cpc"]["value"], json!(0.5));
    assert_eq!(v1["cpa"]["value"], json!(8.0));
    assert_eq!(v1["spend_usd"], "1040.000000");
    assert_eq!(
        (
            v1["impressions"].clone(),
            v1["clicks"].clone(),
            v1["conversions"].clone()
        ),
        (json!(100_000), json!(2_600), json!(130))
    );
    assert_eq!(r["verdict"], "winner");
    assert_eq!(r["winner"], "V1");
    let p: f64 = v0["p_best"].as_f64().unwrap() + v1["p_best"].as_f64().unwrap();
    assert!((p - 1.0).abs() < 1e-9);
    assert!(v1["p_best"].as_f64().unwrap() > 0.99);

    let (status, done) = c
        .send(Method::POST, &format!("experiments/{id}/conclude"), None)
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "concluded");
    assert_eq!(done["winner"], "V1");
    assert!(done["conclusion"].as_str().unwrap().contains("winner"));
    let li = |id: &str| {
        c.app
            .fake
            .state()
            .line_items(&c.account)
            .into_iter()
            .find(|l| l.id == id)
            .unwrap()
    };
    assert_eq!(li(&treatment).entity_status, "ACTIVE");
    assert_eq!(li(&control).entity_status, "PAUSED");
}

/// `cpi` and `install_rate` judge installs (stored `installs` of the variants' LINE_ITEM rows),
/// not conversions nor clicks: the variant with half the cost per install wins although its
/// CTR and conversions are lower, and the stop rule's `min_conversions` counts installs.
#[tokio::test]
async fn install_metrics_judge_installs_and_results_show_them() {
    let c = ctx(true).await;
    let campaign = c.campaign().await;
    let mut body = c.body(&campaign, 2, json!({"mode": "concurrent"}));
    body["primary_metric"] = json!("cpi");
    body["stop"]["min_conversions"] = json!(300);
    let (status, exp) = c.send(Method::POST, "experiments", Some(body)).await;
    assert_eq!(status, 201, "{exp}");
    assert_eq!(exp["primary_metric"], "cpi");
    let id = exp["id"].as_str().unwrap().to_owned();
    let (status, started) = c
        .send(Method::POST, &format!("experiments/{id}/start"), None)
        .await;
    assert_eq!(status, 200, "{started}");
    let start: DateTime<Utc> = started["started_at"].as_str().unwrap().parse().unwrap();
    let tenant = xads::store::tenants::by_api_key(&c.app.state.db, &c.key)
        .await
        .unwrap()
        .unwrap();
    // (line item, impressions, clicks, conversions, installs, USD): two hours each, one of
    // them with installs unknown (counted 0).
    for (i, (imp, clicks, conv, installs)) in
        [(100_000, 2_600, 130, 400), (100_000, 2_000, 100, 800)]
            .into_iter()
            .enumerate()
    {
        let li = started["variants"][i]["line_item_id"].as_str().unwrap();
        for (h, installs, usd) in [(1, Some(installs), "900.000000"), (2, None, "100.000000")] {
            sqlx::query(
                "INSERT INTO stats_hourly (tenant_id, account_id, entity, entity_id, hour, placement,
                    impressions, clicks, engagements, retweets, likes, replies, follows,
                    billed_engagements, conversions, installs, currency, spend_local_micro, fx_rate,
                    fx_rate_date, fx_source, spend_usd, fetched_at)
                 VALUES ($1, $2, 'LINE_ITEM', $3, $4, 'ALL_ON_TWITTER', $5, $6, $6, 0, 0, 0, 0, $6,
                    $7, $8, 'USD', 0, '1', '2026-11-01', 'bundled', $9, 0)",
            )
            .bind(&tenant.id)
            .bind(&c.account)
            .bind(li)
            .bind((start + Duration::hours(h)).timestamp_millis())
            .bind(imp / 2)
            .bind(clicks / 2)
            .bind(conv / 2)
            .bind(installs)
            .bind(usd)
            .execute(c.app.state.db.pool())
            .await
            .unwrap();
        }
    }
    let (status, r) = c
        .send(Method::GET, &format!("experiments/{id}/results"), None)
        .await;
    assert_eq!(status, 200, "{r}");
    let (v0, v1) = (&r["variants"][0], &r["variants"][1]);
    assert_eq!(
        (v0["installs"].clone(), v1["installs"].clone()),
        (json!(400), json!(800))
    );
    // CPI: 1 000 USD / 400 = 2.5, / 800 = 1.25; install rate 400 / 100 000, 800 / 100 000.
    assert_eq!(v0["cpi"]["value"], json!(2.5));
    assert_eq!(v1["cpi"]["value"], json!(1.25));
    assert_eq!(v0["install_rate"]["value"], json!(0.004));
    assert_eq!(v1["install_rate"]["value"], json!(0.008));
    // Conversions stay conversions (fewer than the 300 asked for: installs are what count).
    assert_eq!(v1["conversions"], json!(100));
    assert_eq!(r["verdict"], "winner", "{r}");
    assert_eq!(r["winner"], "V1");
    assert!(v1["p_best"].as_f64().unwrap() > 0.99, "{v1}");
}

#[tokio::test]
async fn dry_run_experiments_toggle_locally_and_send_nothing() {
    let c = ctx(false).await;
    let (id, started, start) = c.started(json!({"mode": "rotate", "slot_hours": 12})).await;
    assert!(
        started["variants"][0]["line_item_id"]
            .as_str()
            .unwrap()
            .starts_with("dry_")
    );
    xads::experiments::runner::tick(
        &c.app.state,
        "r",
        start + Duration::hours(12) + Duration::minutes(1),
    )
    .await
    .unwrap();
    let (_, now) = c
        .send(Method::GET, &format!("experiments/{id}"), None)
        .await;
    assert_eq!(now["variants"][0]["paused"], true, "{now}");
    assert_eq!(now["variants"][1]["paused"], false, "{now}");
    assert!(c.app.x_writes().is_empty());
}

#[tokio::test]
async fn bad_experiments_are_refused_and_create_nothing() {
    let c = ctx(true).await;
    let campaign = c.campaign().await;
    let writes = c.app.x_writes().len();
    let mut two_controls = c.body(&campaign, 2, json!({"mode": "concurrent"}));
    two_controls["variants"][1]["control"] = json!(true);
    let mut bad_slot = c.body(&campaign, 2, json!({"mode": "rotate", "slot_hours": 5}));
    bad_slot["name"] = json!("x");
    let mut bad_metric = c.body(&campaign, 2, json!({"mode": "concurrent"}));
    bad_metric["primary_metric"] = json!("roas");
    let mut bad_tweet = c.body(&campaign, 2, json!({"mode": "concurrent"}));
    bad_tweet["variants"][1]["tweet_id"] = json!("abc");
    let mut bad_placement = c.body(&campaign, 2, json!({"mode": "concurrent"}));
    bad_placement["variants"][0]["line_item"]["placements"] = json!(["NOWHERE"]);
    let mut unknown_campaign = c.body(&campaign, 2, json!({"mode": "concurrent"}));
    unknown_campaign["campaign_id"] = json!("zzzzzz");
    for (what, body) in [
        (
            "one variant",
            c.body(&campaign, 1, json!({"mode": "concurrent"})),
        ),
        ("six variants", {
            let mut b = c.body(&campaign, 5, json!({"mode": "concurrent"}));
            let extra = b["variants"][1].clone();
            b["variants"].as_array_mut().unwrap().push(extra);
            b
        }),
        ("two controls", two_controls),
        ("bad slot", bad_slot),
        ("bad metric", bad_metric),
        ("bad tweet", bad_tweet),
        ("bad placement", bad_placement),
        ("unknown campaign", unknown_campaign),
    ] {
        let (status, resp) = c.send(Method::POST, "experiments", Some(body)).await;
        assert_eq!(status, 422, "{what}: {resp}");
    }
    assert_eq!(c.app.x_writes().len(), writes);
    let (_, list) = c.send(Method::GET, "experiments", None).await;
    assert!(list["data"].as_array().unwrap().is_empty());
    let other = c.app.tenant("Other").await;
    let (status, _) = c
        .app
        .send(Method::GET, &other, &c.path("experiments"), None)
        .await;
    assert_eq!(status, 404);
}
