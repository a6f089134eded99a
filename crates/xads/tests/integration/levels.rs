//! The Reports page's levels (issue 18, item 5; PRODUCT.md §4.7, §6) on both backends: by
//! campaign, by line item, by promoted tweet. A sync that tracks one campaign's line items stores
//! their `LINE_ITEM` rows; the line-item level then shows each line item by its mirrored name
//! (and its campaign's), with the fake generator's numbers exactly, a TOTAL and the previous
//! period at that level, and a breakdown of the line items' own segment rows. The roll-up stays on
//! the accounts' campaign rows. Promoted-tweet rows come from the backfill alone: before one,
//! that level says so and `GET …/stats?entity=PROMOTED_TWEET` answers none; after it, each
//! promoted tweet shows under its tweet and its line item's name with the generator's numbers.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use xads::store::segments::{self, SegmentRow};
use xads::store::stats::{CLICKS, IMPRESSIONS, StatRow};
use xads::store::tenants;
use xads_client::vocab::{COLUMNS, Placement, SegmentationType, StatsEntityType};
use xads_fake::HourMetrics;

use crate::reporting::{
    Ctx, connected, expected_promoted_tweets, fake_config, served_line_item_hours,
};
use crate::ui::{csrf_of, login, page, post_form};

/// The account's (America/Los_Angeles, UTC-8 in November) local day `d` starts at 08:00 UTC.
fn la_midnight(d: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{d}T08:00:00Z"))
        .unwrap()
        .to_utc()
}

/// `n` with thousands separators, as the page writes counts.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The texts of the cells (`<td>`) of the first table row whose opening tag starts with `open`.
pub(crate) fn cells(html: &str, open: &str) -> Vec<String> {
    let at = html
        .find(open)
        .unwrap_or_else(|| panic!("{open} in {html}"));
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

/// The first cell (the name) of the table row `<tr data-id="{id}">`, tags stripped.
fn name_cell(html: &str, id: &str) -> String {
    let open = format!("<tr data-id=\"{id}\"");
    let at = html.find(&open).unwrap_or_else(|| panic!("{open}"));
    let row = &html[at..at + html[at..].find("</td>").unwrap()];
    let mut text = String::new();
    let mut in_tag = false;
    for ch in row[open.len()..].chars() {
        match ch {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The USD account's cells of `m` (impressions, clicks, CTR, engagements, conversions, spend,
/// CPC, CPM, CPA, installs, CPI) as the page must write them.
fn expected_cells(m: &HourMetrics) -> Vec<String> {
    let d = Decimal::from;
    let spend = Decimal::new(m.billed_charge_local_micro, 6);
    let money = |v: Decimal| xads::money::with_currency(v, "USD");
    let per = |n: u64, times: u64| {
        if n == 0 {
            "—".to_owned()
        } else {
            money(spend * d(times) / d(n))
        }
    };
    vec![
        group(m.impressions),
        group(m.clicks),
        if m.impressions == 0 {
            "—".to_owned()
        } else {
            format!(
                "{:.2}%",
                (d(m.clicks) * d(100) / d(m.impressions)).round_dp(2)
            )
        },
        group(m.engagements),
        group(m.conversions),
        money(spend),
        per(m.clicks, 1),
        per(m.impressions, 1000),
        per(m.conversions, 1),
        // A web-only world: installs were never asked of X.
        "—".to_owned(),
        "—".to_owned(),
    ]
}

#[tokio::test]
async fn the_line_item_level_shows_each_line_item_by_name_with_the_fakes_numbers() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, fake_config()).await;
        let seed = c.seed();
        let account = seed.usd_account_id.clone();
        let fake = c.app.fake.state();
        let campaign = fake.campaigns(&account)[0].clone();
        let items: Vec<_> = fake
            .line_items(&account)
            .into_iter()
            .filter(|l| l.campaign_id == campaign.id)
            .collect();
        assert!(items.len() > 1, "the seeded campaign has line items");
        // The hourly sync stores LINE_ITEM rows for the campaigns it is asked to track (as for
        // experiments): this one's, over the page's range and the previous period.
        c.sync(
            &account,
            json!({"from": "2024-11-11", "to": "2024-11-18", "line_item_campaign_ids": [campaign.id]}),
        )
        .await;

        // The fake's numbers per line item over the local days 15 to 18 November, and over the
        // four days before.
        let sums = |from: &str, to: &str| {
            let mut out: BTreeMap<String, HourMetrics> = BTreeMap::new();
            for (cid, li, _, m) in served_line_item_hours(
                &c.app.fake,
                &account,
                la_midnight(from),
                la_midnight(to),
                &Default::default(),
            ) {
                if cid == campaign.id {
                    let e = out.entry(li).or_default();
                    *e = *e + m;
                }
            }
            out
        };
        let now = sums("2024-11-15", "2024-11-19");
        let before = sums("2024-11-11", "2024-11-15");
        assert_eq!(now.len(), items.len(), "{db}: every line item served");
        let total = now.values().fold(HourMetrics::default(), |a, m| a + *m);
        let previous = before.values().fold(HourMetrics::default(), |a, m| a + *m);

        // The API's totals at the level: exactly the generator's, spend in USD at 1.
        let window = "from=2024-11-15&to=2024-11-18";
        let rows = c
            .stats(
                &account,
                &format!("entity=line_item&granularity=total&{window}"),
            )
            .await;
        assert_eq!(rows.len(), now.len(), "{db}");
        for r in &rows {
            let m = &now[r["entity_id"].as_str().unwrap()];
            assert_eq!(r["entity"], "LINE_ITEM");
            assert_eq!(r["impressions"].as_u64(), Some(m.impressions), "{r}");
            assert_eq!(r["clicks"].as_u64(), Some(m.clicks), "{r}");
            assert_eq!(r["conversions"].as_u64(), Some(m.conversions), "{r}");
            assert_eq!(
                r["spend_local_micro"].as_i64(),
                Some(m.billed_charge_local_micro)
            );
            assert_eq!(
                r["spend_usd"].as_str().unwrap(),
                Decimal::new(m.billed_charge_local_micro, 6).to_string(),
                "{r}"
            );
        }

        let cookie = login(&c.app, &c.key).await;
        let base = format!("/reports?account={account}&{window}");
        let (status, html) = page(&c.app, &cookie, &format!("{base}&level=line_item")).await;
        assert_eq!(status, 200, "{db}");
        assert!(html.contains("id=\"by-line-item\""), "{html}");
        assert!(html.contains("<h2 style=\"margin-top:0\">By line item</h2>"));
        assert!(
            html.contains("aria-current=\"page\" class=\"on\">Line items</a>"),
            "the selector marks the level"
        );
        // Each line item by its mirrored name, its campaign named under it, and its numbers.
        for l in &items {
            let name = l.name.clone().expect("seeded line items are named");
            assert_eq!(
                name_cell(&html, &l.id),
                format!("{name} in {} {}", campaign.name, l.id),
                "{db}"
            );
            assert_eq!(
                cells(&html, &format!("<tr data-id=\"{}\"", l.id))[1..],
                expected_cells(&now[&l.id]),
                "{db}: {}",
                l.id
            );
        }
        // The TOTAL and the previous period of the same length, at the level.
        assert_eq!(cells(&html, "<tr id=\"total\""), expected_cells(&total));
        assert_eq!(
            cells(&html, "<tr id=\"previous\""),
            expected_cells(&previous)
        );
        // The chart sums the level's rows: a point per local day and chart.
        let at = html.find("id=\"chart\"").unwrap();
        let chart = &html[at..at + html[at..].find("id=\"all-accounts\"").unwrap()];
        assert_eq!(chart.matches("class=\"point\"").count(), 2 * 4, "{db}");

        // The roll-up stays on the accounts' campaign rows (complete whatever the level), and
        // its links keep the level.
        let campaigns = c
            .stats(
                &account,
                &format!("entity=campaign&granularity=total&{window}"),
            )
            .await;
        let imp: u64 = campaigns
            .iter()
            .map(|r| r["impressions"].as_u64().unwrap())
            .sum();
        assert!(imp > total.impressions, "other campaigns delivered too");
        let rollup = cells(&html, &format!("<tr data-account=\"{account}\""));
        assert_eq!(rollup[1], group(imp), "{db}: {rollup:?}");
        assert!(
            html.contains(&format!(
                "href=\"/reports?account={}&amp;{window_amp}&amp;level=line_item\"",
                seed.jpy_account_id,
                window_amp = window.replace('&', "&amp;")
            )),
            "{html}"
        );
        // The campaign level is unchanged: the campaigns' rows.
        let (_, by_campaign) = page(&c.app, &cookie, &base).await;
        assert!(by_campaign.contains("id=\"by-campaign\""));
        assert!(by_campaign.contains(&format!("<tr data-id=\"{}\"", campaign.id)));
        assert!(!by_campaign.contains(&format!("<tr data-id=\"{}\"", items[0].id)));

        // The CSV at the level: a line per line item and day, named.
        let resp = c
            .app
            .http
            .get(format!(
                "{}/reports.csv?account={account}&{window}&level=line_item",
                c.app.base
            ))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let csv = resp.text().await.unwrap();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let at = |col: &str| header.iter().position(|h| *h == col).unwrap();
        let mut per_item: BTreeMap<String, u64> = BTreeMap::new();
        for line in csv.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f[at("entity")], "LINE_ITEM", "{line}");
            let l = items.iter().find(|l| l.id == f[at("entity_id")]).unwrap();
            assert_eq!(Some(f[at("entity_name")]), l.name.as_deref(), "{line}");
            *per_item.entry(l.id.clone()).or_default() +=
                f[at("impressions")].parse::<u64>().unwrap();
        }
        let expected: BTreeMap<String, u64> = now
            .iter()
            .map(|(k, m)| (k.clone(), m.impressions))
            .collect();
        assert_eq!(per_item, expected, "{db}");

        // A breakdown at the level reads the line items' own segment rows.
        let tenant = tenants::by_api_key(&c.app.state.db, &c.key)
            .await
            .unwrap()
            .unwrap();
        let hour = la_midnight("2024-11-16") + Duration::hours(4);
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
                    account_id: account.clone(),
                    entity: StatsEntityType::LineItem,
                    entity_id: items[0].id.clone(),
                    hour: hour + Duration::hours(h),
                    placement: Placement::AllOnTwitter,
                    values,
                    currency: "USD".into(),
                    fx: None,
                },
            }
        })
        .collect();
        segments::upsert(&c.app.state.db, &tenant.id, &rows, Utc::now())
            .await
            .unwrap();
        let (_, split) = page(
            &c.app,
            &cookie,
            &format!("{base}&level=line_item&segment=PLATFORMS"),
        )
        .await;
        assert_eq!(
            cells(&split, "<tr data-segment=\"iOS\"")[1],
            "1,000",
            "{db}"
        );
        assert_eq!(cells(&split, "<tr data-segment=\"Android\"")[1], "500");
        // The level's links keep the breakdown; at the campaign level there is none stored.
        assert!(split.contains("level=line_item&amp;segment=PLATFORMS"));
        let (_, none) = page(&c.app, &cookie, &format!("{base}&segment=PLATFORMS")).await;
        assert!(none.contains("id=\"breakdown-empty\""), "{db}");
        assert!(!none.contains("data-segment=\"iOS\""));
    }
}

#[tokio::test]
async fn the_promoted_tweet_level_shows_each_backfilled_promoted_tweet_by_its_tweet_with_the_fakes_numbers()
 {
    for db in xads::testing::all_backend_urls().await {
        // Fast backfill polls (the backfill tests' configuration); no backfill at connect.
        let b = crate::backfill::connected_with(&db, fake_config(), "0").await;
        let c = Ctx {
            app: b.app,
            key: b.key,
        };
        let account = c.seed().usd_account_id.clone();
        c.sync(&account, json!({"from": "2024-11-15", "to": "2024-11-18"}))
            .await;
        let window = "from=2024-11-15&to=2024-11-18";
        // The hourly sync stores campaigns' rows only: the API reads the level (any case) and
        // answers none, and the page says where the level's rows come from.
        for entity in ["PROMOTED_TWEET", "promoted_tweet"] {
            let rows = c
                .stats(
                    &account,
                    &format!("entity={entity}&granularity=day&{window}"),
                )
                .await;
            assert!(rows.is_empty(), "{db}: {rows:?}");
        }
        let (status, body) = c
            .app
            .get(
                &c.key,
                &format!("/api/v1/x_ads/accounts/{account}/stats?entity=account"),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], "entity", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("campaign, line_item or promoted_tweet"),
            "{body}"
        );
        let cookie = login(&c.app, &c.key).await;
        let base = format!("/reports?account={account}&{window}&level=promoted_tweet");
        let (status, html) = page(&c.app, &cookie, &base).await;
        assert_eq!(status, 200);
        assert!(html.contains("id=\"by-promoted-tweet\""), "{html}");
        let empty = &html[html
            .find("id=\"level-empty\"")
            .expect("the empty level's note")..];
        let empty = &empty[..empty.find("</p>").unwrap()];
        assert!(
            empty.contains("Promoted-tweet rows come from the history backfill"),
            "{empty}"
        );
        assert!(!html.contains("id=\"total\""), "no TOTAL over no rows");
        // The line-item level of an account whose line items nobody asked about says how it fills.
        let (_, items) = page(
            &c.app,
            &cookie,
            &format!("/reports?account={account}&{window}&level=line_item"),
        )
        .await;
        let empty = &items[items.find("id=\"level-empty\"").unwrap()..];
        assert!(empty.contains("history backfill"), "{db}: {empty}");

        // A backfill of the page's days and the four before stores every promoted tweet's rows.
        let rfc = |d: &str| la_midnight(d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (status, started) = c
            .app
            .send(
                reqwest::Method::POST,
                &c.key,
                &format!("/api/v1/x_ads/accounts/{account}/stats/backfill"),
                Some(json!({"from": rfc("2024-11-11"), "to": rfc("2024-11-19")})),
            )
            .await;
        assert_eq!(status, 202, "{started}");
        let id = started["backfill_id"].as_str().unwrap();
        let done = crate::backfill::backfilled(&c.app, &c.key, &account, id).await;
        assert_eq!(done["status"], "succeeded", "{db}: {done}");

        // The fake's numbers per promoted tweet over the local days 15 to 18 November, and over
        // the four days before.
        let fake = c.app.fake.state();
        let sums = |from: &str, to: &str| {
            let mut out: BTreeMap<String, HourMetrics> = BTreeMap::new();
            for ((pt, _), m) in
                expected_promoted_tweets(fake, &account, la_midnight(from), la_midnight(to))
            {
                let e = out.entry(pt).or_default();
                *e = *e + m;
            }
            out
        };
        let now = sums("2024-11-15", "2024-11-19");
        let before = sums("2024-11-11", "2024-11-15");
        let tweets = fake.promoted_tweets(&account);
        // Those of paused line items or campaigns delivered nothing.
        assert!(now.len() > 1 && now.len() < tweets.len(), "{db}: {now:?}");
        let total = now.values().fold(HourMetrics::default(), |a, m| a + *m);
        let previous = before.values().fold(HourMetrics::default(), |a, m| a + *m);
        let rows = c
            .stats(
                &account,
                &format!("entity=promoted_tweet&granularity=total&{window}"),
            )
            .await;
        assert_eq!(rows.len(), now.len(), "{db}");
        for r in &rows {
            let m = &now[r["entity_id"].as_str().unwrap()];
            assert_eq!(r["entity"], "PROMOTED_TWEET");
            assert_eq!(r["impressions"].as_u64(), Some(m.impressions), "{r}");
            assert_eq!(r["clicks"].as_u64(), Some(m.clicks), "{r}");
            assert_eq!(
                r["spend_local_micro"].as_i64(),
                Some(m.billed_charge_local_micro)
            );
        }

        // The page: each promoted tweet under its tweet and its line item's name, with the
        // generator's numbers; the TOTAL and the previous period at the level.
        let (_, html) = page(&c.app, &cookie, &base).await;
        assert!(!html.contains("id=\"level-empty\""), "{db}");
        let line_items = fake.line_items(&account);
        for pt in &tweets {
            if !now.contains_key(&pt.id) {
                assert!(
                    !html.contains(&format!("<tr data-id=\"{}\"", pt.id)),
                    "{db}"
                );
                continue;
            }
            let li = line_items.iter().find(|l| l.id == pt.line_item_id).unwrap();
            assert_eq!(
                name_cell(&html, &pt.id),
                format!(
                    "Tweet {} in {} {}",
                    pt.tweet_id,
                    li.name.clone().unwrap(),
                    pt.id
                ),
                "{db}"
            );
            assert_eq!(
                cells(&html, &format!("<tr data-id=\"{}\"", pt.id))[1..],
                expected_cells(&now[&pt.id]),
                "{db}: {}",
                pt.id
            );
        }
        assert_eq!(cells(&html, "<tr id=\"total\""), expected_cells(&total));
        assert_eq!(
            cells(&html, "<tr id=\"previous\""),
            expected_cells(&previous)
        );

        // The hourly view and "Sync now" keep the level.
        assert!(
            html.contains(&format!(
                "href=\"/reports?account={account}&amp;view=hour&amp;level=promoted_tweet\""
            )),
            "{html}"
        );
        let resp = post_form(
            &c.app,
            &cookie,
            "/reports/sync",
            &[
                ("csrf", &csrf_of(&html)),
                ("account", &account),
                ("from", "2024-11-15"),
                ("to", "2024-11-18"),
                ("level", "promoted_tweet"),
            ],
        )
        .await;
        assert_eq!(resp.status(), 303);
        let location = resp.headers()[reqwest::header::LOCATION].to_str().unwrap();
        assert!(
            location.starts_with(&format!(
                "/reports?account={account}&from=2024-11-15&to=2024-11-18&level=promoted_tweet&sync="
            )),
            "{location}"
        );
    }
}
