//! Where the fake used to differ from X's own examples (issue 21's SDK conformance run): active
//! entities, servability, line-item defaults, leniency, the tweets endpoint, write and batch
//! answers. Each test compares with the fixture of X's answer where one exists.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Timelike, Utc};
use serde_json::{Value, json};
use xads_fake::hourly_metrics;

use crate::support::{T, answer, t0};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/x-ads-api")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A live line item under `campaign` (PAUSED, starting tomorrow).
async fn line_item(t: &T, campaign: &str) -> Value {
    let r = t
        .post(
            &format!("/12/accounts/{}/line_items", t.usd()),
            &[
                ("campaign_id", campaign),
                ("objective", "ENGAGEMENTS"),
                ("product_type", "PROMOTED_TWEETS"),
                ("placements", "ALL_ON_TWITTER"),
                ("start_time", "2026-06-15T00:00:00Z"),
                ("entity_status", "PAUSED"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].clone()
}

#[tokio::test]
async fn active_entities_have_seconds_start_before_the_window_and_several_placements() {
    let t = T::new().await;
    let a = t.fake.seed_info().accounts[0].clone();
    // A window well inside the seeded history: 2026-05-19 08:00 → 2026-05-20 08:00.
    let (ws, we) = (
        t0().date_naive().and_hms_opt(8, 0, 0).unwrap().and_utc() - Duration::days(1),
        t0().date_naive().and_hms_opt(8, 0, 0).unwrap().and_utc(),
    );
    let r = t
        .get(
            &format!("/12/stats/accounts/{}/active_entities", a.id),
            &[
                ("entity", "LINE_ITEM"),
                ("start_time", &fmt(ws)),
                ("end_time", &fmt(we)),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fx = fixture("docs-x__active_entities_get_response.json");
    assert_eq!(keys(&r.body), keys(&fx));
    let data = r.body["data"].as_array().unwrap();
    assert!(!data.is_empty());
    for d in data {
        assert_eq!(keys(d), keys(&fx["data"][0]), "{d}");
        let (s, e) = (
            time(&d["activity_start_time"]),
            time(&d["activity_end_time"]),
        );
        assert!(s <= e && e <= we, "{d}");
        assert!(s >= ws - Duration::hours(24), "at most a day before: {d}");
    }
    let times: Vec<DateTime<Utc>> = data
        .iter()
        .flat_map(|d| [&d["activity_start_time"], &d["activity_end_time"]])
        .map(time)
        .collect();
    assert!(
        times.iter().any(|t| t.minute() != 0 || t.second() != 0),
        "times to the second, as X's: {times:?}"
    );
    assert!(
        data.iter().any(|d| time(&d["activity_start_time"]) < ws),
        "activity starting before the window, as in X's example"
    );
    // The seeded second line item of each campaign runs on the publisher network too.
    let multi: Vec<&Value> = data
        .iter()
        .filter(|d| d["placements"] == json!(["ALL_ON_TWITTER", "PUBLISHER_NETWORK"]))
        .collect();
    assert!(!multi.is_empty(), "several placements: {}", r.body);
    assert!(multi.iter().any(|d| d["entity_id"] == a.line_item_ids[1]));

    // Such times go straight to stats only at the client's peril: X wants whole hours.
    let d = data
        .iter()
        .find(|d| {
            let s = time(&d["activity_start_time"]);
            s.minute() != 0 || s.second() != 0
        })
        .unwrap();
    let stats = |from: String, to: String, placement: &'static str| {
        let id = d["entity_id"].as_str().unwrap().to_owned();
        let t = &t;
        let a = a.id.clone();
        async move {
            t.get(
                &format!("/12/stats/accounts/{a}"),
                &[
                    ("entity", "LINE_ITEM"),
                    ("entity_ids", &id),
                    ("start_time", &from),
                    ("end_time", &to),
                    ("granularity", "HOUR"),
                    ("placement", placement),
                    ("metric_groups", "ENGAGEMENT"),
                ],
            )
            .await
        }
    };
    let raw = stats(
        d["activity_start_time"].as_str().unwrap().into(),
        d["activity_end_time"].as_str().unwrap().into(),
        "ALL_ON_TWITTER",
    )
    .await;
    assert_eq!(
        (raw.status.as_u16(), raw.error_parameter()),
        (400, "start_time")
    );
    let ok = stats(fmt(ws), fmt(we), "ALL_ON_TWITTER").await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    // A multi-placement line item has publisher-network stats of their own generator key.
    let li = &a.line_item_ids[1];
    let hour = (0..24)
        .map(|h| ws + Duration::hours(h))
        .find(|h| hourly_metrics(42, &format!("{li}:PUBLISHER_NETWORK"), *h, 0).is_some())
        .unwrap();
    let pn = t
        .get(
            &format!("/12/stats/accounts/{}", a.id),
            &[
                ("entity", "LINE_ITEM"),
                ("entity_ids", li),
                ("start_time", &fmt(hour)),
                ("end_time", &fmt(hour + Duration::hours(1))),
                ("granularity", "HOUR"),
                ("placement", "PUBLISHER_NETWORK"),
                ("metric_groups", "ENGAGEMENT"),
            ],
        )
        .await;
    assert_eq!(
        pn.body["data"][0]["id_data"][0]["metrics"]["impressions"][0],
        hourly_metrics(42, &format!("{li}:PUBLISHER_NETWORK"), hour, 0)
            .unwrap()
            .impressions
    );
    // …and a line item on X only has none there.
    let only_x = &a.line_item_ids[0];
    let none = t
        .get(
            &format!("/12/stats/accounts/{}", a.id),
            &[
                ("entity", "LINE_ITEM"),
                ("entity_ids", only_x),
                ("start_time", &fmt(ws)),
                ("end_time", &fmt(we)),
                ("granularity", "TOTAL"),
                ("placement", "PUBLISHER_NETWORK"),
                ("metric_groups", "ENGAGEMENT"),
            ],
        )
        .await;
    assert!(none.body["data"][0]["id_data"][0]["metrics"]["impressions"].is_null());
}

#[tokio::test]
async fn servability_follows_status_and_line_items_as_in_x_examples() {
    let t = T::new().await;
    let acct = t.usd();
    let fi = t.fake.seed_info().accounts[0].funding_instrument_id.clone();
    let base = format!("/12/accounts/{acct}/campaigns");
    let post = t
        .post(
            &base,
            &[
                ("funding_instrument_id", &fi),
                ("name", "demo"),
                ("daily_budget_amount_local_micro", "140000000"),
                ("entity_status", "PAUSED"),
            ],
        )
        .await;
    let fx = fixture("docs-x__campaigns_post.json");
    assert_eq!(keys(&post.body["data"]), keys(&fx["data"]));
    for k in ["effective_status", "servable", "reasons_not_servable"] {
        assert_eq!(post.body["data"][k], fx["data"][k], "{k}");
    }
    let paused = post.body["data"]["id"].as_str().unwrap().to_owned();

    let active = t
        .post(&base, &[("funding_instrument_id", &fi), ("name", "on")])
        .await;
    let d = &active.body["data"];
    assert_eq!(d["entity_status"], "ACTIVE");
    assert_eq!(
        (
            &d["effective_status"],
            &d["servable"],
            &d["reasons_not_servable"]
        ),
        (&json!("UNKNOWN"), &json!(false), &json!(["INCOMPLETE"])),
        "an ACTIVE campaign without line items cannot serve"
    );
    let active = d["id"].as_str().unwrap().to_owned();

    line_item(&t, &active).await;
    let got = t.get(&format!("{base}/{active}"), &[]).await;
    let d = &got.body["data"];
    assert_eq!(
        (
            &d["effective_status"],
            &d["servable"],
            &d["reasons_not_servable"]
        ),
        (&json!("RUNNING"), &json!(true), &json!([]))
    );
    let li = line_item(&t, &paused).await;
    let got = t.get(&format!("{base}/{paused}"), &[]).await;
    assert_eq!(
        got.body["data"]["reasons_not_servable"],
        json!(["PAUSED_BY_ADVERTISER"])
    );
    assert_eq!(got.body["data"]["effective_status"], "PAUSED");
    // The list answers the same servability as the single read.
    let list = t.get(&base, &[]).await;
    let listed = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == paused.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed, got.body["data"]);
    // Deleting its only line item makes it incomplete again.
    t.delete(
        &format!(
            "/12/accounts/{acct}/line_items/{}",
            li["id"].as_str().unwrap()
        ),
        &[],
    )
    .await;
    let got = t.get(&format!("{base}/{paused}"), &[]).await;
    assert_eq!(got.body["data"]["effective_status"], "UNKNOWN");
    // A deleted campaign answers like X's DELETE example.
    let del = t.delete(&format!("{base}/{paused}"), &[]).await;
    let fx = fixture("docs-x__campaigns_delete.json");
    assert_eq!(keys(&del.body["data"]), keys(&fx["data"]));
    for k in ["servable", "reasons_not_servable", "deleted"] {
        assert_eq!(del.body["data"][k], fx["data"][k], "{k}");
    }
}

#[tokio::test]
async fn line_item_defaults_and_write_answers_match_x_examples() {
    let t = T::new().await;
    let acct = t.usd();
    let fi = t.fake.seed_info().accounts[0].funding_instrument_id.clone();
    let c = t
        .post(
            &format!("/12/accounts/{acct}/campaigns"),
            &[("funding_instrument_id", &fi), ("name", "engagements")],
        )
        .await;
    let campaign = c.body["data"]["id"].as_str().unwrap().to_owned();
    // The docs' own request (campaign aside).
    let r = t
        .post(
            &format!("/12/accounts/{acct}/line_items"),
            &[
                ("campaign_id", campaign.as_str()),
                ("objective", "ENGAGEMENTS"),
                ("product_type", "PROMOTED_TWEETS"),
                ("placements", "ALL_ON_TWITTER"),
                ("bid_amount_local_micro", "3210000"),
                ("entity_status", "PAUSED"),
                ("daily_budget_amount_local_micro", "1000000"),
                ("start_time", "2022-06-15"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fx = fixture("docs-x__line_items_post.json");
    assert_eq!(
        keys(&r.body["data"]),
        keys(&fx["data"]),
        "no funding_instrument_id in a write answer"
    );
    for k in ["bid_strategy", "goal", "pay_by", "standard_delivery"] {
        assert_eq!(r.body["data"][k], fx["data"][k], "{k}");
    }
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/12/accounts/{acct}/line_items/{id}");
    let put = t.put(&path, &[("bid_amount_local_micro", "140000")]).await;
    assert_eq!(
        keys(&put.body["data"]),
        keys(&fixture("docs-x__line_items_put.json")["data"])
    );
    // Reads carry it (docs-x line_items_get_one).
    let get = t.get(&path, &[]).await;
    assert_eq!(
        keys(&get.body["data"]),
        keys(&fixture("docs-x__line_items_get_one.json")["data"])
    );
    assert_eq!(get.body["data"]["funding_instrument_id"], fi);
    let del = t.delete(&path, &[]).await;
    assert!(del.body["data"].get("funding_instrument_id").is_none());
    assert_eq!(del.body["data"]["deleted"], true);

    // Without a bid the strategy is AUTO; the goal sets pay_by; no daily budget, no pacing flag.
    let auto = t
        .post(
            &format!("/12/accounts/{acct}/line_items"),
            &[
                ("campaign_id", campaign.as_str()),
                ("objective", "ENGAGEMENTS"),
                ("goal", "LINK_CLICKS"),
                ("product_type", "PROMOTED_TWEETS"),
                ("placements", "ALL_ON_TWITTER"),
                ("start_time", "2026-06-01T00:00:00Z"),
            ],
        )
        .await;
    let d = &auto.body["data"];
    assert_eq!(
        (
            &d["bid_strategy"],
            &d["goal"],
            &d["pay_by"],
            &d["standard_delivery"]
        ),
        (
            &json!("AUTO"),
            &json!("LINK_CLICKS"),
            &json!("IMPRESSION"),
            &Value::Null
        )
    );

    // Batch answers: line items keep funding_instrument_id, and neither batch adds data_type.
    let b = answer(
        t.http
            .post(t.url(&format!("/12/batch/accounts/{acct}/line_items")))
            .bearer_auth(&t.token)
            .json(&json!([{ "operation_type": "Create", "params": {
                "campaign_id": campaign, "objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
                "placements": "ALL_ON_TWITTER", "bid_amount_local_micro": 3210000, "entity_status": "PAUSED" } }]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(b.status, 200, "{}", b.body);
    let fx = fixture("docs-x__batch_line_items_response.json");
    assert_eq!(keys(&b.body), keys(&fx), "no data_type");
    assert_eq!(keys(&b.body["data"][0]), keys(&fx["data"][0]));
    assert!(
        b.body["data"][0]["start_time"].is_null(),
        "batch creates without start_time, as X's example"
    );
}

#[tokio::test]
async fn undocumented_leniency_is_refused_loudly() {
    let t = T::new().await;
    let acct = t.usd();
    let a = t.fake.seed_info().accounts[0].clone();
    let li_path = format!("/12/accounts/{acct}/line_items");
    let campaign = a.campaign_ids[0].as_str();
    let base = [
        ("campaign_id", campaign),
        ("objective", "WEBSITE_CLICKS"),
        ("product_type", "PROMOTED_TWEETS"),
        ("start_time", "2026-06-01T00:00:00Z"),
    ];

    // Repeated keys: X documents comma lists; the fake no longer keeps the last one silently.
    let mut q = base.to_vec();
    q.push(("placements", "ALL_ON_TWITTER"));
    q.push(("placements", "PUBLISHER_NETWORK"));
    let r = t.post(&li_path, &q).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code(), r.error_parameter()),
        (400, "INVALID_PARAMETER", "placements")
    );
    assert_eq!(r.body["request"]["params"]["account_id"], acct);
    let before = t.fake.counts(&acct).line_items;
    let r = t.get(&li_path, &[("count", "1"), ("count", "2")]).await;
    assert_eq!(r.error_parameter(), "count");
    assert_eq!(t.fake.counts(&acct).line_items, before);
    // Parameters the fake does not read stay ignored, repeated or not: X's SDK sends a loaded
    // object's read-only fields back on save().
    let put = t
        .put(
            &format!("/12/accounts/{acct}/campaigns/{campaign}"),
            &[
                ("name", "saved by an SDK"),
                ("reasons_not_servable", "PAUSED_BY_ADVERTISER"),
                ("reasons_not_servable", "INCOMPLETE"),
                ("currency", "USD"),
            ],
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["data"]["name"], "saved by an SDK");

    // A line item without start_time: X documents it as required.
    let q: Vec<_> = base
        .iter()
        .copied()
        .filter(|(k, _)| *k != "start_time")
        .chain([("placements", "ALL_ON_TWITTER")])
        .collect();
    let r = t.post(&li_path, &q).await;
    assert_eq!(
        (r.error_code(), r.error_parameter()),
        ("MISSING_PARAMETER", "start_time")
    );

    // Targeting values: keywords are named after themselves; catalogue values get X's names;
    // values the fake does not know are refused.
    let tc = format!("/12/accounts/{acct}/targeting_criteria");
    let li = &a.line_item_ids[0];
    let kw = t
        .post(
            &tc,
            &[
                ("line_item_id", li),
                ("targeting_type", "BROAD_KEYWORD"),
                ("targeting_value", "technology"),
            ],
        )
        .await;
    let fx = fixture("docs-x__targeting_criteria_post.json");
    assert_eq!(keys(&kw.body["data"]), keys(&fx["data"]));
    assert_eq!(kw.body["data"]["name"], "technology");
    let city = t
        .post(
            &tc,
            &[
                ("line_item_id", li),
                ("targeting_type", "LOCATION"),
                ("targeting_value", "5122804691e5fecc"),
            ],
        )
        .await;
    assert_eq!(
        city.body["data"]["name"],
        "San Francisco-Oakland-San Jose CA, US"
    );
    assert_eq!(city.body["data"]["location_type"], "CITY");
    for (kind, value) in [
        ("LOCATION", "nowhere"),
        ("GENDER", "3"),
        ("AGE", "AGE_30_TO_20"),
        ("LANGUAGE", "xx"),
        ("INTEREST", "anything"),
        ("BROAD_KEYWORD", " "),
    ] {
        let r = t
            .post(
                &tc,
                &[
                    ("line_item_id", li),
                    ("targeting_type", kind),
                    ("targeting_value", value),
                ],
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.error_code(), r.error_parameter()),
            (400, "INVALID_PARAMETER", "targeting_value"),
            "{kind} {value}"
        );
    }

    // Stats for an id that is not the account's: refused, not answered with nulls.
    let stats = |ids: String| {
        let t = &t;
        let acct = acct.clone();
        async move {
            t.get(
                &format!("/12/stats/accounts/{acct}"),
                &[
                    ("entity", "CAMPAIGN"),
                    ("entity_ids", &ids),
                    ("start_time", "2026-05-19T00:00:00Z"),
                    ("end_time", "2026-05-20T00:00:00Z"),
                    ("granularity", "TOTAL"),
                    ("placement", "ALL_ON_TWITTER"),
                    ("metric_groups", "ENGAGEMENT"),
                ],
            )
            .await
        }
    };
    let r = stats(format!("{campaign},zzzzz")).await;
    assert_eq!(
        (r.status.as_u16(), r.error_parameter()),
        (400, "entity_ids")
    );
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("zzzzz")
    );
    // A line item id is not a campaign id either; a deleted campaign still has its history.
    assert_eq!(stats(a.line_item_ids[0].clone()).await.status, 400);
    t.delete(&format!("/12/accounts/{acct}/campaigns/{campaign}"), &[])
        .await;
    assert_eq!(stats(campaign.to_owned()).await.status, 200);
}

#[tokio::test]
async fn tweets_honour_tweet_type_count_cursor_and_answer_x_fields() {
    let t = T::new().await;
    let acct = t.usd();
    let path = format!("/12/accounts/{acct}/tweets");
    let missing = t.get(&path, &[]).await;
    assert_eq!(
        (missing.error_code(), missing.error_parameter()),
        ("MISSING_PARAMETER", "tweet_type")
    );
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = vec![
            ("tweet_type", "PUBLISHED".to_owned()),
            ("count", "4".to_owned()),
        ];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = t.get(&path, &q).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        for d in r.body["data"].as_array().unwrap() {
            seen.push(d["id_str"].as_str().unwrap().to_owned());
        }
        match &r.body["next_cursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            _ => break,
        }
    }
    let all = t.fake.seed_info().accounts[0].tweet_ids.clone();
    assert_eq!(pages, all.len().div_ceil(4));
    assert_eq!(seen, all);

    // The field set of X's docs example (the SDK fixture predates three of its fields).
    let one = t
        .get(
            &path,
            &[
                ("tweet_type", "PUBLISHED"),
                ("tweet_ids", &all[0]),
                ("trim_user", "true"),
            ],
        )
        .await;
    let d = &one.body["data"][0];
    let sdk = fixture("python-sdk__tweets_get.json");
    let mut want = keys(&sdk["data"][0]);
    want.extend(["name", "id_str", "conversation_settings"].map(String::from));
    assert_eq!(keys(d), want);
    assert_eq!(keys(&one.body), keys(&sdk));
    assert_eq!(d["tweet_id"], all[0].as_str());
    assert_eq!(
        d["user"],
        json!({"id": 756201191646691328u64, "id_str": "756201191646691328"})
    );
    assert_eq!(d["tweet_type"], "PUBLISHED");
    let full = t
        .get(
            &path,
            &[("tweet_type", "PUBLISHED"), ("tweet_ids", &all[0])],
        )
        .await;
    assert_eq!(
        full.body["data"][0]["user"]["screen_name"],
        "fake_advertiser"
    );
    for (k, v) in [
        ("tweet_type", "DRAFT"),
        ("tweet_type", "SCHEDULED"),
        ("timeline_type", "ORGANIC"),
    ] {
        let mut q = vec![("tweet_type", "PUBLISHED")];
        q.retain(|(kk, _)| *kk != k);
        q.push((k, v));
        let r = t.get(&path, &q).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["data"], json!([]), "{k}={v}");
    }
    let bad = t.get(&path, &[("tweet_type", "SENT")]).await;
    assert_eq!(bad.error_parameter(), "tweet_type");
    let bad = t
        .get(&path, &[("tweet_type", "PUBLISHED"), ("count", "0")])
        .await;
    assert_eq!(bad.error_parameter(), "count");
}
