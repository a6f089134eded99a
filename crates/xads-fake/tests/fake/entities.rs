//! Ads API v12 entities: envelopes, auth, CRUD, validation, cursors.

use serde_json::Value;
use xads_fake::FakeConfig;

use crate::support::{T, config};

#[tokio::test]
async fn accounts_answer_x_envelope_with_version_header() {
    let t = T::new().await;
    let a = t.get("/12/accounts", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-current-api-version"), Some("12"));
    assert!(a.body["next_cursor"].is_null());
    assert!(a.body["request"]["params"].is_object());
    let data = a.body["data"].as_array().unwrap();
    let seed = t.fake.seed_info();
    let ids: Vec<&str> = data.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            &seed.usd_account_id,
            &seed.jpy_account_id,
            &seed.kwd_account_id
        ]
    );
    assert!(!ids.contains(&seed.foreign_account_id.as_str()));
    let usd = &data[0];
    assert_eq!(usd["id"], "18ce54d4x5t");
    assert_eq!(usd["timezone"], "America/Los_Angeles");
    assert_eq!(usd["approval_status"], "ACCEPTED");
    assert_eq!(usd["deleted"], false);
    assert!(usd.get("currency").is_none(), "accounts carry no currency");
    let fis = t
        .get(
            &format!("/12/accounts/{}/funding_instruments", seed.jpy_account_id),
            &[],
        )
        .await;
    assert_eq!(fis.body["data"][0]["currency"], "JPY");
    let kwd = t
        .get(&format!("/12/accounts/{}", seed.kwd_account_id), &[])
        .await;
    assert_eq!(kwd.body["data"]["timezone"], "Asia/Kuwait");
    assert_eq!(
        kwd.body["request"]["params"]["account_id"],
        seed.kwd_account_id
    );
}

#[tokio::test]
async fn foreign_and_unknown_accounts_are_403_account_not_found() {
    let t = T::new().await;
    let foreign = t.fake.seed_info().foreign_account_id;
    for id in [foreign.as_str(), "nope1"] {
        let a = t.get(&format!("/12/accounts/{id}/campaigns"), &[]).await;
        assert_eq!(a.status, 403);
        assert_eq!(a.error_code(), "ACCOUNT_NOT_FOUND");
    }
}

#[tokio::test]
async fn missing_or_expired_token_is_401_and_unapproved_app_is_403() {
    let mut t = T::new().await;
    let real = t.token.clone();
    t.token = "not-a-token".into();
    let a = t.get("/12/accounts", &[]).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error_code(), "UNAUTHORIZED_ACCESS");
    t.token = real;
    t.fake.expire_access_tokens();
    assert_eq!(t.get("/12/accounts", &[]).await.status, 401);

    let t = T::with(FakeConfig {
        app_approved: false,
        ..config()
    })
    .await;
    let a = t.get("/12/accounts", &[]).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.error_code(), "UNAUTHORIZED_CLIENT_APPLICATION");
}

#[tokio::test]
async fn campaign_create_update_delete_and_with_deleted() {
    let t = T::new().await;
    let acct = t.usd();
    let fi = t.fake.seed_info().accounts[0].funding_instrument_id.clone();
    let base = format!("/12/accounts/{acct}/campaigns");
    let before = t.fake.counts(&acct);
    let c = t
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
    assert_eq!(c.status, 200, "{}", c.body);
    let d = &c.body["data"];
    assert_eq!(d["name"], "demo");
    assert_eq!(d["entity_status"], "PAUSED");
    assert_eq!(d["currency"], "USD");
    assert_eq!(d["daily_budget_amount_local_micro"], 140000000);
    assert_eq!(d["budget_optimization"], "LINE_ITEM");
    assert_eq!(
        c.body["request"]["params"]["daily_budget_amount_local_micro"],
        140000000
    );
    assert_eq!(c.body["request"]["params"]["account_id"], acct);
    let id = d["id"].as_str().unwrap().to_string();
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    );

    let u = t
        .put(&format!("{base}/{id}"), &[("entity_status", "ACTIVE")])
        .await;
    assert_eq!(u.status, 200);
    assert_eq!(u.body["data"]["entity_status"], "ACTIVE");
    assert_eq!(u.body["data"]["name"], "demo", "PUT is partial");
    assert_eq!(u.body["data"]["daily_budget_amount_local_micro"], 140000000);

    let del = t.delete(&format!("{base}/{id}"), &[]).await;
    assert_eq!(del.status, 200);
    assert_eq!(del.body["data"]["deleted"], true);
    assert_eq!(t.get(&format!("{base}/{id}"), &[]).await.status, 404);
    assert_eq!(t.delete(&format!("{base}/{id}"), &[]).await.status, 404);
    let wd = t
        .get(&format!("{base}/{id}"), &[("with_deleted", "true")])
        .await;
    assert_eq!(wd.status, 200);
    assert_eq!(wd.body["data"]["deleted"], true);
    let list = t.get(&base, &[]).await;
    assert!(
        !list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id)
    );
    let list = t.get(&base, &[("with_deleted", "true")]).await;
    assert!(
        list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id)
    );
    let after = t.fake.counts(&acct);
    assert_eq!(after.campaigns, before.campaigns + 1);
    assert_eq!(after.campaigns_deleted, before.campaigns_deleted + 1);
}

#[tokio::test]
async fn validation_errors_name_the_parameter() {
    let t = T::new().await;
    let acct = t.usd();
    let fi = t.fake.seed_info().accounts[0].funding_instrument_id.clone();
    let base = format!("/12/accounts/{acct}/campaigns");
    let long = "x".repeat(256);
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("funding_instrument_id", &fi)],
            "MISSING_PARAMETER",
            "name",
        ),
        (
            vec![("name", "x")],
            "MISSING_PARAMETER",
            "funding_instrument_id",
        ),
        (
            vec![
                ("funding_instrument_id", &fi),
                ("name", "x"),
                ("entity_status", "RUNNING"),
            ],
            "INVALID_PARAMETER",
            "entity_status",
        ),
        (
            vec![
                ("funding_instrument_id", &fi),
                ("name", "x"),
                ("daily_budget_amount_local_micro", "2000000"),
                ("total_budget_amount_local_micro", "1000000"),
            ],
            "INVALID_PARAMETER",
            "daily_budget_amount_local_micro",
        ),
        (
            vec![("funding_instrument_id", &fi), ("name", &long)],
            "INVALID_PARAMETER",
            "name",
        ),
        (
            vec![("funding_instrument_id", "zzzzz"), ("name", "x")],
            "INVALID_PARAMETER",
            "funding_instrument_id",
        ),
    ];
    for (q, code, param) in cases {
        let a = t.post(&base, &q).await;
        assert_eq!(a.status, 400, "{q:?}");
        assert_eq!(a.error_code(), code, "{q:?}");
        assert_eq!(a.error_parameter(), param, "{q:?}");
        assert_eq!(a.body["request"]["params"]["account_id"], acct);
    }
    let campaign = t.fake.seed_info().accounts[0].campaign_ids[0].clone();
    let li = format!("/12/accounts/{acct}/line_items");
    let ok = [
        ("campaign_id", campaign.as_str()),
        ("objective", "WEBSITE_CLICKS"),
        ("product_type", "PROMOTED_TWEETS"),
        ("placements", "ALL_ON_TWITTER,TWITTER_TIMELINE"),
        ("start_time", "2026-06-01T00:00:00Z"),
    ];
    for missing in [
        "campaign_id",
        "objective",
        "product_type",
        "placements",
        "start_time",
    ] {
        let q: Vec<_> = ok.iter().copied().filter(|(k, _)| *k != missing).collect();
        let a = t.post(&li, &q).await;
        assert_eq!(
            (a.error_code(), a.error_parameter()),
            ("MISSING_PARAMETER", missing)
        );
    }
    for (k, bad) in [
        ("objective", "WIN"),
        ("product_type", "X"),
        ("placements", "MOON"),
    ] {
        let q: Vec<_> = ok
            .iter()
            .map(|(kk, v)| if *kk == k { (*kk, bad) } else { (*kk, *v) })
            .collect();
        let a = t.post(&li, &q).await;
        assert_eq!(
            (a.error_code(), a.error_parameter()),
            ("INVALID_PARAMETER", k)
        );
    }
    let created = t.post(&li, &ok).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(
        created.body["data"]["placements"],
        serde_json::json!(["ALL_ON_TWITTER", "TWITTER_TIMELINE"])
    );
    assert_eq!(
        created.body["request"]["params"]["placements"][1],
        "TWITTER_TIMELINE"
    );
}

#[tokio::test]
async fn cursor_paging_walks_every_campaign_once() {
    let t = T::with(FakeConfig {
        campaigns_per_account: 7,
        ..config()
    })
    .await;
    let base = format!("/12/accounts/{}/campaigns", t.usd());
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = vec![("count", "3".to_string())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = t.get(&base, &q).await;
        assert_eq!(a.status, 200);
        pages += 1;
        seen.extend(
            a.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string()),
        );
        match &a.body["next_cursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            Value::Null => break,
            other => panic!("bad cursor {other}"),
        }
    }
    assert_eq!(pages, 3);
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), 7);
    assert_eq!(seen.len(), 7);
    let total = t.get(&base, &[("with_total_count", "true")]).await;
    assert_eq!(total.body["total_count"], 7);
    let too_many = t.get(&base, &[("count", "1001")]).await;
    assert_eq!(
        (too_many.error_code(), too_many.error_parameter()),
        ("INVALID_PARAMETER", "count")
    );
    let bad = t.get(&base, &[("cursor", "garbage!")]).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn sort_by_created_at_desc_puts_the_newest_first_and_q_filters_names() {
    let t = T::new().await;
    let acct = t.usd();
    let fi = t.fake.seed_info().accounts[0].funding_instrument_id.clone();
    let base = format!("/12/accounts/{acct}/campaigns");
    t.fake.advance_clock(chrono::Duration::minutes(5));
    let c = t
        .post(
            &base,
            &[("funding_instrument_id", &fi), ("name", "Newest one")],
        )
        .await;
    let list = t.get(&base, &[("sort_by", "created_at-desc")]).await;
    assert_eq!(list.body["data"][0]["id"], c.body["data"]["id"]);
    let q = t.get(&base, &[("q", "newest")]).await;
    assert_eq!(q.body["data"].as_array().unwrap().len(), 1);
    let bad = t.get(&base, &[("sort_by", "colour-desc")]).await;
    assert_eq!(bad.error_parameter(), "sort_by");
}

#[tokio::test]
async fn promoted_tweets_post_array_restore_same_id_and_refuse_put() {
    let t = T::new().await;
    let seed = t.fake.seed_info();
    let a = &seed.accounts[0];
    let base = format!("/12/accounts/{}/promoted_tweets", a.id);
    let li = a.line_item_ids[0].clone();
    let tweets = format!("{},{}", a.tweet_ids[3], a.tweet_ids[4]);
    let p = t
        .post(&base, &[("line_item_id", &li), ("tweet_ids", &tweets)])
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["total_count"], 2);
    let data = p.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["tweet_id"], a.tweet_ids[3]);
    assert!(p.body["request"]["params"]["tweet_ids"][0].is_u64());
    let id = data[0]["id"].as_str().unwrap().to_string();

    let put = t
        .put(&format!("{base}/{id}"), &[("entity_status", "PAUSED")])
        .await;
    assert!(put.status.is_client_error());
    assert!(!put.body["errors"].as_array().unwrap().is_empty());

    let del = t.delete(&format!("{base}/{id}"), &[]).await;
    assert_eq!(del.body["data"]["deleted"], true);
    assert_eq!(t.get(&format!("{base}/{id}"), &[]).await.status, 404);
    let again = t
        .post(
            &base,
            &[("line_item_id", &li), ("tweet_ids", &a.tweet_ids[3])],
        )
        .await;
    assert_eq!(
        again.body["data"][0]["id"], id,
        "re-POST restores the same id"
    );
    assert_eq!(again.body["data"][0]["deleted"], false);

    let many: Vec<String> = (0..51).map(|i| (1000 + i).to_string()).collect();
    let big = t
        .post(
            &base,
            &[("line_item_id", &li), ("tweet_ids", &many.join(","))],
        )
        .await;
    assert_eq!(
        (big.error_code(), big.error_parameter()),
        ("INVALID_PARAMETER", "tweet_ids")
    );
    let n = t
        .fake
        .promoted_tweets(&a.id)
        .iter()
        .filter(|p| p.tweet_id == a.tweet_ids[3] && p.line_item_id == li)
        .count();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn line_item_delete_does_not_cascade_but_hides_children() {
    let t = T::new().await;
    let a = t.fake.seed_info().accounts[0].clone();
    let li = &a.line_item_ids[0];
    let del = t
        .delete(&format!("/12/accounts/{}/line_items/{li}", a.id), &[])
        .await;
    assert_eq!(del.status, 200);
    let pts = t
        .get(
            &format!("/12/accounts/{}/promoted_tweets", a.id),
            &[("line_item_ids", li)],
        )
        .await;
    assert!(pts.body["data"].as_array().unwrap().is_empty());
    let pts = t
        .get(
            &format!("/12/accounts/{}/promoted_tweets", a.id),
            &[("line_item_ids", li), ("with_deleted", "true")],
        )
        .await;
    assert_eq!(pts.body["data"][0]["deleted"], false);
}

#[tokio::test]
async fn user_access_placements_and_added_tweets() {
    let t = T::new().await;
    let acct = t.usd();
    let a = t
        .get(
            &format!("/12/accounts/{acct}/authenticated_user_access"),
            &[],
        )
        .await;
    assert_eq!(a.body["data"]["user_id"], t.fake.seed_info().user_id);
    assert_eq!(a.body["data"]["permissions"][0], "ACCOUNT_ADMIN");
    let p = t
        .get(
            "/12/line_items/placements",
            &[("product_type", "PROMOTED_TWEETS")],
        )
        .await;
    assert_eq!(p.body["data"][0]["product_type"], "PROMOTED_TWEETS");
    assert_eq!(p.body["data"][0]["placements"][0][0], "ALL_ON_TWITTER");
    let tweet = t.fake.add_tweet(&acct, "fresh creative");
    let li = t.fake.seed_info().accounts[0].line_item_ids[1].clone();
    let r = t
        .post(
            &format!("/12/accounts/{acct}/promoted_tweets"),
            &[("line_item_id", &li), ("tweet_ids", &tweet)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"][0]["tweet_id"], tweet);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let t = T::new().await;
    let url = t.url("/12/accounts");
    let http = t.http.clone();
    t.fake.shutdown().await;
    assert!(http.get(&url).send().await.is_err());
}
