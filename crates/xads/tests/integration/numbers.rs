//! Numbers a marketer can trust on the pages (issue 19): days in the account's time zone, money
//! in each currency's own units, USD marked as estimated where its rate is stale, flash messages
//! shown once, and the history of a disconnected account still served.

use chrono::{DateTime, Utc};
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use xads_fake::FakeConfig;

use crate::helpers::TestApp;
use crate::ui::{csrf_of, login, page};

/// The fake's and the service's "now": 5 December 2026, 10:30 UTC (19:30 in Tokyo).
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-05T10:30:00Z")
        .unwrap()
        .to_utc()
}

/// Connected (dry-run), clocks on `t0`, the JPY and KWD accounts synced for 1–4 December
/// (local days); answers the app, the API key and the (JPY, KWD) account ids.
async fn synced() -> (TestApp, String, String, String) {
    let app = TestApp::spawn(
        &xads::testing::sqlite_url(),
        FakeConfig {
            start_time: Some(t0()),
            history_days: 20,
            ..FakeConfig::default()
        },
    )
    .await;
    app.state.clock.advance(t0() - Utc::now());
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    let seed = app.fake.seed_info();
    for account in [&seed.jpy_account_id, &seed.kwd_account_id] {
        let (status, run) = app
            .send(
                Method::POST,
                &key,
                &format!("/api/v1/x_ads/accounts/{account}/stats/sync?wait=true"),
                Some(json!({"from": "2026-12-01", "to": "2026-12-04"})),
            )
            .await;
        assert_eq!(
            (status, run["status"].as_str()),
            (200, Some("succeeded")),
            "{run}"
        );
    }
    (
        app,
        key,
        seed.jpy_account_id.clone(),
        seed.kwd_account_id.clone(),
    )
}

async fn csv(app: &TestApp, cookie: &str, path: &str) -> String {
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// The CSV's value of `column` in each data line.
fn column(csv: &str, column: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|c| *c == column).unwrap();
    lines
        .map(|l| l.split(',').nth(at).unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn reports_show_the_accounts_local_days_and_each_currency_in_its_own_units() {
    let (app, key, jpy, kwd) = synced().await;
    let cookie = login(&app, &key).await;

    // Tokyo's 1 December starts at 15:00 UTC on 30 November: the chart's first day is 12-01,
    // the zone is named, and no label is the UTC date of the local midnight.
    let (status, html) = page(
        &app,
        &cookie,
        &format!("/reports?account={jpy}&from=2026-12-01&to=2026-12-03"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Asia/Tokyo"), "the zone is named");
    assert!(html.contains(">12-01</text>"), "{html}");
    assert!(!html.contains(">11-30</text>"), "{html}");
    // Yen without a minor unit, with its symbol; the USD from the bundled rate of 2025-10-01
    // (more than 7 days before December 2026) marked as an estimate with the rate and its date.
    assert!(html.contains("¥"), "{html}");
    assert!(!html.contains(".00 JPY"), "{html}");
    assert!(html.contains("est."), "{html}");
    assert!(
        html.contains("1 JPY = 0.006773 USD of 2025-10-01"),
        "{html}"
    );

    // The CSV: local dates, the campaign's name, yen as whole units beside the micros.
    let text = csv(
        &app,
        &cookie,
        &format!("/reports.csv?account={jpy}&from=2026-12-01&to=2026-12-03"),
    )
    .await;
    let dates = column(&text, "date");
    assert!(!dates.is_empty());
    assert!(
        dates
            .iter()
            .all(|d| ["2026-12-01", "2026-12-02", "2026-12-03"].contains(&d.as_str())),
        "{dates:?}"
    );
    assert!(
        column(&text, "entity_name").iter().all(|n| !n.is_empty()),
        "{text}"
    );
    let micros = column(&text, "spend_local_micro");
    let yen = column(&text, "spend_local");
    for (m, y) in micros.iter().zip(&yen) {
        assert!(!y.contains('.'), "{y}");
        assert_eq!(
            y.parse::<i64>().unwrap(),
            m.parse::<i64>().unwrap() / 1_000_000
        );
    }
    assert!(
        column(&text, "fx_stale").iter().all(|s| s == "true"),
        "{text}"
    );

    // Kuwaiti dinar: three decimals, and the code.
    let text = csv(
        &app,
        &cookie,
        &format!("/reports.csv?account={kwd}&from=2026-12-01&to=2026-12-03"),
    )
    .await;
    let dinars = column(&text, "spend_local");
    assert!(!dinars.is_empty());
    assert!(
        dinars
            .iter()
            .all(|d| d.split_once('.').is_some_and(|(_, f)| f.len() == 3)),
        "{dinars:?}"
    );
    let (_, html) = page(
        &app,
        &cookie,
        &format!("/reports?account={kwd}&from=2026-12-01&to=2026-12-03"),
    )
    .await;
    assert!(html.contains(" KWD<") || html.contains(" KWD\n"), "{html}");
    assert!(html.contains("Asia/Kuwait"));
}

#[tokio::test]
async fn a_message_shows_once_and_not_after_a_reload() {
    let (app, key, jpy, _) = synced().await;
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, &format!("/reports?account={jpy}")).await;
    // A sync that cannot start (an account that is not the tenant's) leaves a message.
    let resp = crate::ui::post_form(
        &app,
        &cookie,
        "/reports/sync",
        &[
            ("csrf", &csrf_of(&html)),
            ("account", "nope0"),
            ("from", "2026-12-04"),
            ("to", "2026-12-05"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        !location.contains("error"),
        "the message is not in the URL: {location}"
    );
    let flash = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let flash = flash.split(';').next().unwrap().to_owned();
    assert_eq!(flash, "xads_flash=sync-refused");

    // The next page shows it and clears it; the reload (no flash cookie left) does not.
    let next = format!("/reports?account={jpy}");
    let resp = app
        .http
        .get(format!("{}{next}", app.base))
        .header(COOKIE, format!("{cookie}; {flash}"))
        .send()
        .await
        .unwrap();
    let cleared = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cleared.starts_with("xads_flash=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("The sync could not start")
    );
    let (_, reloaded) = page(&app, &cookie, &next).await;
    assert!(!reloaded.contains("The sync could not start"));
    // A forged code shows nothing of its own.
    let (_, forged) = page(&app, &format!("{cookie}; xads_flash=<b>hi</b>"), &next).await;
    assert!(!forged.contains("hi</b>"), "{forged}");
}

#[tokio::test]
async fn a_disconnected_accounts_history_is_still_served_with_a_banner() {
    let (app, key, jpy, _) = synced().await;
    let path =
        format!("/api/v1/x_ads/accounts/{jpy}/stats?from=2026-12-01&to=2026-12-03&granularity=day");
    let (status, before) = app.get(&key, &path).await;
    assert_eq!(status, 200);
    assert!(!before["data"].as_array().unwrap().is_empty());

    let (status, _) = app
        .send(Method::DELETE, &key, "/api/v1/integrations/x_ads", None)
        .await;
    assert!(status < 300, "{status}");

    // The API keeps answering the stored rows, as JSON and as CSV.
    let (status, after) = app.get(&key, &path).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["data"], before["data"]);
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(&key)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().lines().count() > 1);

    // The Reports page: the rows, under a banner saying they are no longer refreshed.
    let cookie = login(&app, &key).await;
    let (status, html) = page(
        &app,
        &cookie,
        &format!("/reports?account={jpy}&from=2026-12-01&to=2026-12-03"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"history-banner\""), "{html}");
    assert!(html.contains("no longer refreshed"), "{html}");
    assert!(
        html.contains("data-id") || html.contains("class=\"note mono\""),
        "campaign rows: {html}"
    );
    assert!(!html.contains("id=\"sync-now\""), "nothing to sync from");
    let text = csv(
        &app,
        &cookie,
        &format!("/reports.csv?account={jpy}&from=2026-12-01&to=2026-12-03"),
    )
    .await;
    assert!(text.lines().count() > 1, "{text}");
}

/// The campaigns of `account` as the API lists them, by name.
async fn campaign_named(
    app: &TestApp,
    key: &str,
    account: &str,
    name: &str,
) -> Option<serde_json::Value> {
    let (status, list) = app
        .get(
            key,
            &format!("/api/v1/x_ads/accounts/{account}/campaigns?count=1000"),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
}

#[tokio::test]
async fn the_ui_creates_paused_unless_started_and_confirms_a_large_budget_in_usd() {
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let seed = app.fake.seed_info();
    let kwd = seed.kwd_account_id.clone();
    let fi = seed.account(&kwd).unwrap().funding_instrument_id.clone();
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, &format!("/campaigns?account={kwd}")).await;
    // The form says what it does and what a dinar is worth in USD.
    assert!(html.contains("Created paused unless"), "{html}");
    assert!(html.contains("1 KWD = "), "{html}");
    let csrf = csrf_of(&html);
    let create =
        |name: &'static str, daily: &'static str, extra: Vec<(&'static str, &'static str)>| {
            let mut form = vec![
                ("csrf", csrf.clone()),
                ("account", kwd.clone()),
                ("name", name.to_owned()),
                ("funding_instrument_id", fi.clone()),
                ("daily_budget", daily.to_owned()),
                ("idem", format!("idem-{name}").replace(' ', "-")),
            ];
            form.extend(extra.into_iter().map(|(k, v)| (k, v.to_owned())));
            form
        };
    let post = |form: Vec<(&'static str, String)>| {
        let (app, cookie) = (&app, cookie.clone());
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            crate::ui::post_form(app, &cookie, "/campaigns/create", &pairs).await
        }
    };

    // Without "start now": paused. With it: active.
    let resp = post(create("Quiet start", "10", vec![])).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        campaign_named(&app, &key, &kwd, "Quiet start")
            .await
            .unwrap()["paused"],
        true
    );
    let resp = post(create("Loud start", "10", vec![("start_now", "1")])).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        campaign_named(&app, &key, &kwd, "Loud start")
            .await
            .unwrap()["paused"],
        false
    );

    // 5 000 KWD a day is worth far more than 1 000 USD: a confirmation with the USD equivalent,
    // and nothing created until it is given.
    let resp = post(create("Big spender", "5000", vec![("start_now", "1")])).await;
    assert_eq!(resp.status(), 200);
    let confirm = resp.text().await.unwrap();
    assert!(confirm.contains("Confirm the daily budget"), "{confirm}");
    assert!(confirm.contains("5,000.000 KWD"), "{confirm}");
    assert!(confirm.contains("≈ <strong>$16,"), "{confirm}");
    assert!(
        campaign_named(&app, &key, &kwd, "Big spender")
            .await
            .is_none()
    );
    let resp = post(create(
        "Big spender",
        "5000",
        vec![("start_now", "1"), ("confirm_budget", "1")],
    ))
    .await;
    assert_eq!(resp.status(), 303);
    assert!(
        campaign_named(&app, &key, &kwd, "Big spender")
            .await
            .is_some()
    );

    // The JSON API keeps its contract: `paused` as sent, no confirmation.
    let (status, made) = app
        .send(
            Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{kwd}/campaigns"),
            Some(json!({"name": "API big", "funding_instrument_id": fi, "daily_budget_amount_local_micro": 5_000_000_000_i64, "paused": false})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["paused"], false);

    // Lists show each currency in its own units, with the USD equivalent beside.
    let (_, list) = page(&app, &cookie, &format!("/campaigns?account={kwd}")).await;
    assert!(list.contains("5,000.000 KWD"), "{list}");
    assert!(list.contains("≈ $16,"), "{list}");
}

#[tokio::test]
async fn disconnect_asks_first_and_stops_the_runner_of_running_experiments() {
    let c = crate::helpers::AccountCtx::new(&xads::testing::sqlite_url(), false).await;
    let (status, campaign) = c
        .send(Method::POST, "campaigns", Some(json!({"name": "Experiment home", "funding_instrument_id": c.fi, "daily_budget_amount_local_micro": 50_000_000})))
        .await;
    assert_eq!(status, 201, "{campaign}");
    let variants: Vec<serde_json::Value> = (0..2)
        .map(|i| {
            json!({
                "name": format!("V{i}"), "control": i == 0, "tweet_id": c.tweets[i],
                "line_item": {"objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
                    "placements": ["ALL_ON_TWITTER"], "bid_amount_local_micro": 1_000_000,
                    "daily_budget_amount_local_micro": 5_000_000}
            })
        })
        .collect();
    let (status, exp) = c
        .send(Method::POST, "experiments", Some(json!({"name": "Headline test", "campaign_id": campaign["id"], "primary_metric": "ctr",
            "schedule": {"mode": "rotate", "slot_hours": 6}, "stop": {"min_impressions": 1000, "max_days": 14}, "variants": variants})))
        .await;
    assert_eq!(status, 201, "{exp}");
    let id = exp["id"].as_str().unwrap().to_owned();
    let (status, _) = c
        .send(Method::POST, &format!("experiments/{id}/start"), None)
        .await;
    assert_eq!(status, 200);

    let cookie = login(&c.app, &c.key).await;
    // The tile's Disconnect is a link to a confirmation, which names the running experiment and
    // says its line items stay as they are at X.
    let (_, tile) = page(&c.app, &cookie, "/integrations").await;
    assert!(
        tile.contains("href=\"/integrations/x_ads/disconnect\""),
        "{tile}"
    );
    let (status, confirm) = page(&c.app, &cookie, "/integrations/x_ads/disconnect").await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Headline test"), "{confirm}");
    assert!(confirm.contains("stay as they are at X"), "{confirm}");
    // A post without the confirmation does nothing but send the browser to it.
    let csrf = csrf_of(&confirm);
    let resp = crate::ui::post_form(
        &c.app,
        &cookie,
        "/integrations/x_ads/disconnect",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], "/integrations/x_ads/disconnect");
    let (_, still) = c.app.get(&c.key, "/api/v1/integrations").await;
    assert_eq!(still["data"][0]["status"], "connected");

    let resp = crate::ui::post_form(
        &c.app,
        &cookie,
        "/integrations/x_ads/disconnect",
        &[("csrf", &csrf), ("confirm", "1")],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let flash = resp.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(flash, "xads_flash=disconnected-1");
    let (_, gone) = c.app.get(&c.key, "/api/v1/integrations").await;
    assert_eq!(gone["data"][0]["status"], "disconnected");
    // The experiment's runner is stopped, and the experiment says why and what stays at X.
    let db = &c.app.state.db;
    let tenant = xads::store::tenants::by_api_key(db, &c.key)
        .await
        .unwrap()
        .unwrap();
    let e = xads::store::experiments::get(db, &tenant.id, &c.account, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.status, "stopped");
    assert_eq!(
        e.problem.as_deref(),
        Some(xads::experiments::STOPPED_BY_DISCONNECT)
    );
    assert!(
        xads::store::experiments::running(db)
            .await
            .unwrap()
            .is_empty(),
        "nothing left for the runner"
    );
}

#[tokio::test]
async fn editing_a_daily_budget_above_the_threshold_asks_first_with_its_usd_worth() {
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let seed = app.fake.seed_info();
    let kwd = seed.kwd_account_id.clone();
    let fi = seed.account(&kwd).unwrap().funding_instrument_id.clone();
    let api = |rest: &str| format!("/api/v1/x_ads/accounts/{kwd}/{rest}");
    let (status, c) = app
        .send(Method::POST, &key, &api("campaigns"), Some(json!({"name": "Small", "funding_instrument_id": fi, "daily_budget_amount_local_micro": 10_000_000})))
        .await;
    assert_eq!(status, 201, "{c}");
    let cid = c["id"].as_str().unwrap().to_owned();
    let (status, l) = app
        .send(Method::POST, &key, &api("line_items"), Some(json!({"campaign_id": cid, "objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
            "placements": ["ALL_ON_TWITTER"], "bid_amount_local_micro": 1_000_000, "daily_budget_amount_local_micro": 5_000_000})))
        .await;
    assert_eq!(status, 201, "{l}");
    let lid = l["id"].as_str().unwrap().to_owned();
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, &format!("/campaigns/{kwd}/{cid}")).await;
    let csrf = csrf_of(&html);

    for (action, read) in [
        (
            format!("/campaigns/{kwd}/{cid}/edit"),
            api(&format!("campaigns/{cid}")),
        ),
        (
            format!("/line_items/{kwd}/{cid}/{lid}/edit"),
            api(&format!("line_items/{lid}")),
        ),
    ] {
        let before = daily_budget(&app, &key, &read).await;
        // 5 000 KWD a day: a confirmation with the USD equivalent; nothing saved yet.
        let form = [
            ("csrf", csrf.as_str()),
            ("name", "Big"),
            ("daily_budget", "5000"),
        ];
        let resp = crate::ui::post_form(&app, &cookie, &action, &form).await;
        assert_eq!(resp.status(), 200, "{action}");
        let confirm = resp.text().await.unwrap();
        assert!(confirm.contains("Confirm the daily budget"), "{confirm}");
        assert!(confirm.contains("5,000.000 KWD"), "{confirm}");
        assert!(confirm.contains("≈ <strong>$16,"), "{confirm}");
        assert!(confirm.contains("Yes, save with this budget"), "{confirm}");
        assert!(
            confirm.contains(&format!("action=\"{action}\"")),
            "re-posts to the edit: {confirm}"
        );
        assert_eq!(daily_budget(&app, &key, &read).await, before, "{action}");
        // Confirmed: saved.
        let mut confirmed = form.to_vec();
        confirmed.push(("confirm_budget", "1"));
        let resp = crate::ui::post_form(&app, &cookie, &action, &confirmed).await;
        assert_eq!(resp.status(), 303, "{action}");
        assert_eq!(daily_budget(&app, &key, &read).await, Some(5_000_000_000));
        // Keeping that budget (a rename) asks nothing again.
        let rename = [
            ("csrf", csrf.as_str()),
            ("name", "Bigger"),
            ("daily_budget", "5000"),
        ];
        let resp = crate::ui::post_form(&app, &cookie, &action, &rename).await;
        assert_eq!(resp.status(), 303, "{action}");
    }
}

#[tokio::test]
async fn a_finished_sync_leaves_its_address_and_shows_its_result_once() {
    let (app, key, jpy, _) = synced().await;
    let (status, run) = app
        .send(
            Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{jpy}/stats/sync?wait=true"),
            Some(json!({"from": "2026-12-03", "to": "2026-12-04"})),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    let id = run["sync_id"].as_str().unwrap().to_owned();
    let cookie = login(&app, &key).await;
    for (with_sync, clean) in [
        (
            format!("/reports?account={jpy}&from=2026-12-01&to=2026-12-04&sync={id}"),
            format!("/reports?account={jpy}&from=2026-12-01&to=2026-12-04"),
        ),
        (
            format!("/integrations?sync={id}"),
            "/integrations".to_owned(),
        ),
    ] {
        // The run is done: the status address answers 303 to the clean one, with the result
        // in the one-shot cookie.
        let resp = app
            .http
            .get(format!("{}{with_sync}", app.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "{with_sync}");
        assert_eq!(resp.headers()[LOCATION], clean.as_str());
        let flash = resp.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        assert!(flash.starts_with("xads_flash=sync-ok-1-"), "{flash}");
        let resp = app
            .http
            .get(format!("{}{clean}", app.base))
            .header(COOKIE, format!("{cookie}; {flash}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let shown = resp.text().await.unwrap();
        assert!(shown.contains("Sync succeeded."), "{shown}");
        assert!(shown.contains("1 account,"), "{shown}");
        assert!(!shown.contains("http-equiv=\"refresh\""), "{shown}");
        // The reload (the cookie cleared) shows nothing of it.
        let (_, reloaded) = page(&app, &cookie, &clean).await;
        assert!(!reloaded.contains("Sync succeeded"), "{reloaded}");
    }
}

#[tokio::test]
async fn the_disconnected_banner_says_it_once_and_what_to_do() {
    let (app, key, jpy, _) = synced().await;
    let (status, _) = app
        .send(Method::DELETE, &key, "/api/v1/integrations/x_ads", None)
        .await;
    assert!(status < 300, "{status}");
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, &format!("/reports?account={jpy}")).await;
    let at = html.find("id=\"history-banner\"").expect("the banner");
    let banner = &html[at..at + html[at..].find("</div>").unwrap()];
    assert_eq!(
        banner.matches("not connected").count(),
        1,
        "said once: {banner}"
    );
    assert!(!banner.contains("Not connected to X"), "{banner}");
    assert!(banner.contains("no longer refreshed"), "{banner}");
    assert!(banner.contains("href=\"/integrations\""), "{banner}");
    // The pages that need X say it once too, with where to connect.
    let (_, campaigns) = page(&app, &cookie, "/campaigns").await;
    let at = campaigns.find("id=\"not-connected\"").expect("the notice");
    let notice = &campaigns[at..at + campaigns[at..].find("</div>").unwrap()];
    assert_eq!(notice.matches("not connected").count(), 1, "{notice}");
    assert!(
        !notice.contains("connect it on the Integrations page first"),
        "{notice}"
    );
}

#[tokio::test]
async fn spend_is_one_column_on_a_usd_account_and_two_elsewhere() {
    let (app, key, jpy, _) = synced().await;
    let usd = app.fake.seed_info().usd_account_id.clone();
    let (status, _) = app
        .send(
            Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{usd}/stats/sync?wait=true"),
            Some(json!({"from": "2026-12-01", "to": "2026-12-04"})),
        )
        .await;
    assert_eq!(status, 200);
    let cookie = login(&app, &key).await;
    let range = "from=2026-12-01&to=2026-12-04";
    // The header cells of `table` that name spend.
    let spend_headers = |html: &str, table: &str| -> Vec<String> {
        let at = html.find(&format!("id=\"{table}\"")).expect(table);
        let head = &html[at..at + html[at..].find("</thead>").unwrap()];
        head.split("<th")
            .filter(|th| th.contains("Spend"))
            .map(str::to_owned)
            .collect()
    };
    let (_, reports) = page(&app, &cookie, &format!("/reports?account={usd}&{range}")).await;
    assert_eq!(spend_headers(&reports, "by-campaign").len(), 1, "{reports}");
    let (_, campaigns) = page(&app, &cookie, &format!("/campaigns?account={usd}&{range}")).await;
    assert_eq!(
        spend_headers(&campaigns, "campaigns").len(),
        1,
        "{campaigns}"
    );
    // A yen account shows both: yen and their USD worth.
    let (_, reports) = page(&app, &cookie, &format!("/reports?account={jpy}&{range}")).await;
    assert_eq!(spend_headers(&reports, "by-campaign").len(), 2, "{reports}");
    let (_, campaigns) = page(&app, &cookie, &format!("/campaigns?account={jpy}&{range}")).await;
    assert_eq!(
        spend_headers(&campaigns, "campaigns").len(),
        2,
        "{campaigns}"
    );
}

/// The daily budget of the entity at the API path `path`.
async fn daily_budget(app: &TestApp, key: &str, path: &str) -> Option<i64> {
    let (_, e) = app.get(key, path).await;
    e["daily_budget_amount_local_micro"].as_i64()
}

/// The texts of the cells of the table row with `id` (tags stripped).
fn row_cells(html: &str, id: &str) -> Vec<String> {
    let at = html.find(&format!("<tr id=\"{id}\"")).expect(id);
    let row = &html[at..at + html[at..].find("</tr>").unwrap()];
    row.split("<td")
        .skip(1)
        .map(|cell| {
            let mut text = String::new();
            let mut in_tag = true; // the rest of the `<td …>` tag
            for ch in cell.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text
        })
        .collect()
}

#[tokio::test]
async fn the_total_row_sums_every_column_and_compares_with_the_previous_period() {
    let (app, key, _, _) = synced().await;
    let usd = app.fake.seed_info().usd_account_id.clone();
    let api = |rest: &str| format!("/api/v1/x_ads/accounts/{usd}/{rest}");
    let (status, _) = app
        .send(
            Method::POST,
            &key,
            &api("stats/sync?wait=true"),
            Some(json!({"from": "2026-11-27", "to": "2026-12-04"})),
        )
        .await;
    assert_eq!(status, 200);
    // The API's per-campaign totals of a window, summed exactly.
    let sums = |from: &'static str, to: &'static str| {
        let (app, key, path) = (&app, key.clone(), api("stats"));
        async move {
            let (_, body) = app
                .get(
                    &key,
                    &format!("{path}?from={from}&to={to}&granularity=total"),
                )
                .await;
            let rows = body["data"].as_array().unwrap().clone();
            assert!(!rows.is_empty());
            let n = |k: &str| rows.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
            let usd: rust_decimal::Decimal = rows
                .iter()
                .map(|r| {
                    r["spend_usd"]
                        .as_str()
                        .unwrap()
                        .parse::<rust_decimal::Decimal>()
                        .unwrap()
                })
                .sum();
            (n("impressions"), n("clicks"), n("conversions"), usd)
        }
    };
    let (imp, clicks, conv, spend) = sums("2026-12-01", "2026-12-04").await;
    let (prev_imp, _, _, prev_spend) = sums("2026-11-27", "2026-11-30").await;

    let cookie = login(&app, &key).await;
    let (_, html) = page(
        &app,
        &cookie,
        &format!("/reports?account={usd}&from=2026-12-01&to=2026-12-04"),
    )
    .await;
    let group = |n: u64| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let money = |d: rust_decimal::Decimal| xads::money::with_currency(d, "USD");
    // USD account: Impressions, Clicks, CTR, Engagements, Conversions, Spend, CPC, CPM, CPA,
    // Installs, CPI (no app campaign here: installs were not asked, so "—", not 0).
    let total = row_cells(&html, "total");
    assert_eq!(total.len(), 11, "{total:?}");
    assert_eq!(total[9..], ["—", "—"], "{total:?}");
    assert_eq!(total[0], group(imp));
    assert_eq!(total[1], group(clicks));
    let hundred = rust_decimal::Decimal::from(100);
    let ctr = rust_decimal::Decimal::from(clicks) * hundred / rust_decimal::Decimal::from(imp);
    assert_eq!(total[2], format!("{:.2}%", ctr.round_dp(2)));
    assert_eq!(total[4], group(conv));
    assert_eq!(total[5], money(spend));
    assert_eq!(total[6], money(spend / rust_decimal::Decimal::from(clicks)));
    assert_eq!(
        total[7],
        money(spend * rust_decimal::Decimal::from(1000) / rust_decimal::Decimal::from(imp))
    );
    // The previous four days, and the change against them.
    let previous = row_cells(&html, "previous");
    assert_eq!(previous[0], group(prev_imp));
    assert_eq!(previous[5], money(prev_spend));
    assert!(html.contains("Previous 4 days"), "{html}");
    let change = row_cells(&html, "change");
    let d = |n: u64| rust_decimal::Decimal::from(n);
    let expected = ((d(imp) - d(prev_imp)) * hundred / d(prev_imp)).round_dp(1);
    let sign = if expected.is_sign_positive() && !expected.is_zero() {
        "+"
    } else {
        ""
    };
    assert_eq!(change[0], format!("{sign}{expected:.1}%"));
}

#[tokio::test]
async fn the_all_accounts_roll_up_adds_every_accounts_usd() {
    let (app, key, jpy, kwd) = synced().await;
    let total = |account: String| {
        let (app, key) = (&app, key.clone());
        async move {
            let (_, body) = app
                .get(
                    &key,
                    &format!("/api/v1/x_ads/accounts/{account}/stats?from=2026-12-01&to=2026-12-04&granularity=total"),
                )
                .await;
            let rows = body["data"].as_array().unwrap().clone();
            let imp: u64 = rows
                .iter()
                .map(|r| r["impressions"].as_u64().unwrap())
                .sum();
            let usd: rust_decimal::Decimal = rows
                .iter()
                .map(|r| {
                    r["spend_usd"]
                        .as_str()
                        .unwrap()
                        .parse::<rust_decimal::Decimal>()
                        .unwrap()
                })
                .sum();
            (imp, usd)
        }
    };
    let (jpy_imp, jpy_usd) = total(jpy.clone()).await;
    let (kwd_imp, kwd_usd) = total(kwd.clone()).await;
    assert!(jpy_imp > 0 && kwd_imp > 0);
    let cookie = login(&app, &key).await;
    let (_, html) = page(
        &app,
        &cookie,
        &format!("/reports?account={jpy}&from=2026-12-01&to=2026-12-04"),
    )
    .await;
    assert!(html.contains("id=\"all-accounts\""), "{html}");
    // Each account's own row: its impressions, its spend in its own currency.
    let at = html.find(&format!("data-account=\"{kwd}\"")).unwrap();
    let kwd_row = &html[at..at + html[at..].find("</tr>").unwrap()];
    assert!(kwd_row.contains(" KWD<"), "{kwd_row}");
    // The total: impressions and USD of every account together; no local sum across currencies.
    let cells = row_cells(&html, "rollup-total");
    let imp = (jpy_imp + kwd_imp).to_string();
    assert_eq!(cells[0].replace(',', ""), imp, "{cells:?}");
    assert_eq!(cells[5], "—", "{cells:?}");
    let usd = xads::money::with_currency(jpy_usd + kwd_usd, "USD");
    assert_eq!(cells[6], format!("≈ {usd} est."), "{cells:?}");
}

#[tokio::test]
async fn the_hourly_view_shows_the_last_days_hour_by_hour_on_the_accounts_clock() {
    let (app, key, jpy, _) = synced().await;
    // Now is 5 December 19:30 in Tokyo: the last three local days are 3 to 5 December.
    let (_, body) = app
        .get(
            &key,
            &format!(
                "/api/v1/x_ads/accounts/{jpy}/stats?from=2026-12-03&to=2026-12-05&granularity=hour"
            ),
        )
        .await;
    let mut hours: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["start"].as_str().unwrap().to_owned())
        .collect();
    hours.sort();
    hours.dedup();
    assert!(hours.len() > 24, "{hours:?}");
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, &format!("/reports?account={jpy}")).await;
    assert!(html.contains("id=\"hourly-view\""), "{html}");
    let (status, html) = page(&app, &cookie, &format!("/reports?account={jpy}&view=hour")).await;
    assert_eq!(status, 200);
    assert!(html.contains("per hour (Asia/Tokyo)"), "{html}");
    let at = html.find("id=\"chart\"").unwrap();
    let chart = &html[at..at + html[at..].find("id=\"all-accounts\"").unwrap()];
    // Two charts (spend, impressions), a point per hour with data in each.
    assert_eq!(chart.matches("class=\"point\"").count(), 2 * hours.len());
    // The first hour on Tokyo's clock, as the axis and the tooltips name it.
    let first: DateTime<Utc> = hours[0].parse().unwrap();
    let local = first
        .with_timezone(&chrono_tz::Tz::Asia__Tokyo)
        .format("%m-%d %H:00")
        .to_string();
    assert!(
        chart.contains(&format!("<title>{local}: ")),
        "{local}: {chart}"
    );
    assert!(
        chart.contains(">12-03 00:00<") || local != "12-03 00:00",
        "{chart}"
    );
}

#[tokio::test]
async fn the_breakdown_splits_the_totals_by_segment() {
    use xads::store::segments::{self, SegmentRow};
    use xads::store::stats::{CLICKS, IMPRESSIONS, StatRow};
    use xads_client::vocab::{COLUMNS, Placement, SegmentationType, StatsEntityType};
    let (app, key, jpy, _) = synced().await;
    let db = &app.state.db;
    let tenant = xads::store::tenants::by_api_key(db, &key)
        .await
        .unwrap()
        .unwrap();
    let campaign = app.fake.state().campaigns(&jpy)[0].id.clone();
    // 2 December, noon in Tokyo: iOS 700 and 300 impressions over two hours, Android 500.
    let hour = DateTime::parse_from_rfc3339("2026-12-02T03:00:00Z")
        .unwrap()
        .to_utc();
    let rows: Vec<SegmentRow> = [
        ("iOS", "0", 700, 0),
        ("iOS", "0", 300, 1),
        ("Android", "1", 500, 0),
    ]
    .into_iter()
    .map(|(name, value, imp, h)| {
        let mut values = [Some(0i64); COLUMNS.len()];
        values[IMPRESSIONS] = Some(imp);
        values[CLICKS] = Some(imp / 100);
        SegmentRow {
            segment_type: SegmentationType::Platforms,
            segment_name: name.into(),
            segment_value: value.into(),
            row: StatRow {
                account_id: jpy.clone(),
                entity: StatsEntityType::Campaign,
                entity_id: campaign.clone(),
                hour: hour + chrono::Duration::hours(h),
                placement: Placement::AllOnTwitter,
                values,
                currency: "JPY".into(),
                fx: None,
            },
        }
    })
    .collect();
    segments::upsert(db, &tenant.id, &rows, Utc::now())
        .await
        .unwrap();
    let cookie = login(&app, &key).await;
    let base = format!("/reports?account={jpy}&from=2026-12-01&to=2026-12-04");
    let (_, plain) = page(&app, &cookie, &base).await;
    assert!(plain.contains("id=\"segment\""), "the selector");
    assert!(!plain.contains("id=\"breakdown\""));
    let (status, html) = page(&app, &cookie, &format!("{base}&segment=PLATFORMS")).await;
    assert_eq!(status, 200);
    let cells = |name: &str| {
        let at = html
            .find(&format!("<tr data-segment=\"{name}\""))
            .expect(name);
        let row = &html[at..at + html[at..].find("</tr>").unwrap()];
        row.split("<td class=\"n\">")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(cells("iOS"), "1,000");
    assert_eq!(cells("Android"), "500");
    assert!(html.contains("Share of spend by segment"), "{html}");
}
