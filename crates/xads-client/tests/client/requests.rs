//! What the client puts on the wire: method, path, query string, headers.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use xads_client::models::{
    ActiveEntitiesQuery, CampaignCreate, CampaignUpdate, EntityStatus, Granularity, LineItemCreate,
    LineItemUpdate, MediaLibraryCreate, MetricGroup, Placement, PromotedTweetsCreate,
    StatsEntityType, StatsQuery,
};
use xads_client::{
    BearerSigner, CallOptions, EndpointFamily, GateError, LimitScope, ListParams, RateGate,
    RateKey, RateLimitInfo, RetryPolicy, XAdsClient, XError,
};

use crate::stub::{Reply, Stub, TOKEN};
use xads_client::vocab::{BidStrategy, LineItemPlacement, Objective, ProductType};

const CAMPAIGN: &str = r#"{"id":"8wku2","name":"test","entity_status":"PAUSED","currency":"USD","daily_budget_amount_local_micro":10000000}"#;

#[tokio::test]
async fn list_campaigns_sends_filters_in_the_query_and_reads_the_envelope() {
    let stub = Stub::start(vec![Reply::json(
        200,
        &format!(r#"{{"request":{{"params":{{}}}},"data":[{CAMPAIGN}],"next_cursor":"c-2","total_count":7}}"#),
    )])
    .await;
    let page = stub
        .ads(RetryPolicy::none())
        .list_campaigns(
            "18ce54d4x5t",
            &ListParams::new()
                .ids("campaign_ids", ["8wku2", "8wku3"])
                .count(1000)
                .with_deleted(true)
                .with_total_count(true)
                .sort_by("created_at-desc"),
        )
        .await
        .unwrap();
    assert_eq!(page.data[0].id, "8wku2");
    assert_eq!(page.next_cursor.as_deref(), Some("c-2"));
    assert_eq!(page.total_count, Some(7));

    let req = stub.single();
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/12/accounts/18ce54d4x5t/campaigns");
    let p = req.params();
    assert_eq!(p["campaign_ids"], "8wku2,8wku3");
    assert_eq!(p["count"], "1000");
    assert_eq!(p["with_deleted"], "true");
    assert_eq!(p["with_total_count"], "true");
    assert_eq!(p["sort_by"], "created_at-desc");
    assert!(
        req.raw_query.contains("campaign_ids=8wku2%2C8wku3"),
        "{}",
        req.raw_query
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(req.header("user-agent").unwrap().starts_with("xads/"));
    assert_eq!(
        req.header("idempotency-key"),
        None,
        "reads carry no idempotency key"
    );
    assert!(req.body.is_empty());
}

#[tokio::test]
async fn create_campaign_puts_params_in_the_query_with_idempotency_key() {
    let stub = Stub::start(vec![Reply::ok(CAMPAIGN)]).await;
    let created = stub
        .ads(RetryPolicy::none())
        .create_campaign(
            "18ce54d4x5t",
            &CampaignCreate {
                funding_instrument_id: "lygyi".into(),
                name: "Spring, sale: 50%".into(),
                daily_budget_amount_local_micro: Some(10_000_000),
                entity_status: Some(EntityStatus::Paused),
                ..Default::default()
            },
            &CallOptions::idempotency_key("idem-1"),
        )
        .await
        .unwrap();
    assert_eq!(created.data.entity_status, Some(EntityStatus::Paused));

    let req = stub.single();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/12/accounts/18ce54d4x5t/campaigns");
    let p = req.params();
    assert_eq!(p["funding_instrument_id"], "lygyi");
    assert_eq!(p["name"], "Spring, sale: 50%");
    assert_eq!(p["daily_budget_amount_local_micro"], "10000000");
    assert_eq!(p["entity_status"], "PAUSED");
    assert!(!p.contains_key("total_budget_amount_local_micro"));
    assert!(
        req.raw_query.contains("name=Spring%2C%20sale%3A%2050%25"),
        "{}",
        req.raw_query
    );
    assert!(
        req.body.is_empty(),
        "X takes params in the query, not the body"
    );
    assert_eq!(req.header("idempotency-key"), Some("idem-1"));
    assert!(req.header("authorization").is_some());
}

#[tokio::test]
async fn update_and_delete_campaign() {
    let stub = Stub::start(vec![Reply::ok(CAMPAIGN)]).await;
    let ads = stub.ads(RetryPolicy::none());
    ads.update_campaign(
        "acc",
        "8wku2",
        &CampaignUpdate::status(EntityStatus::Active),
        &CallOptions::idempotency_key("k-2"),
    )
    .await
    .unwrap();
    ads.delete_campaign("acc", "8wku2", &CallOptions::idempotency_key("k-3"))
        .await
        .unwrap();
    let reqs = stub.requests();
    assert_eq!(reqs[0].method, "PUT");
    assert_eq!(reqs[0].path, "/12/accounts/acc/campaigns/8wku2");
    assert_eq!(reqs[0].raw_query, "entity_status=ACTIVE");
    assert_eq!(reqs[0].header("idempotency-key"), Some("k-2"));
    assert_eq!(reqs[1].method, "DELETE");
    assert_eq!(reqs[1].path, "/12/accounts/acc/campaigns/8wku2");
    assert_eq!(reqs[1].header("idempotency-key"), Some("k-3"));

    // An update with nothing set is refused before sending.
    let err = ads
        .update_campaign(
            "acc",
            "8wku2",
            &CampaignUpdate::default(),
            &CallOptions::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, XError::Invalid { .. }));
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn line_item_create_and_update_encode_lists_times_and_clears() {
    let stub = Stub::start(vec![Reply::ok(
        r#"{"id":"ml5vs","entity_status":"PAUSED"}"#,
    )])
    .await;
    let ads = stub.ads(RetryPolicy::none());
    ads.create_line_item(
        "acc",
        &LineItemCreate {
            bid_strategy: Some(BidStrategy::Max),
            bid_amount_local_micro: Some(3_210_000),
            start_time: Some(Utc.with_ymd_and_hms(2026, 6, 15, 0, 0, 0).unwrap()),
            entity_status: Some(EntityStatus::Paused),
            ..LineItemCreate::new(
                "hwtq0",
                Objective::Engagements,
                ProductType::PromotedTweets,
                vec![
                    LineItemPlacement::TwitterTimeline,
                    LineItemPlacement::TwitterSearch,
                ],
            )
        },
        &CallOptions::idempotency_key("li-1"),
    )
    .await
    .unwrap();
    ads.update_line_item(
        "acc",
        "ml5vs",
        &LineItemUpdate {
            end_time: Some(None),
            entity_status: Some(EntityStatus::Paused),
            ..Default::default()
        },
        &CallOptions::new(),
    )
    .await
    .unwrap();
    let reqs = stub.requests();
    assert_eq!(reqs[0].path, "/12/accounts/acc/line_items");
    let p = reqs[0].params();
    assert_eq!(p["placements"], "TWITTER_TIMELINE,TWITTER_SEARCH");
    assert_eq!(p["start_time"], "2026-06-15T00:00:00Z");
    assert_eq!(p["entity_status"], "PAUSED");
    assert_eq!(p["bid_amount_local_micro"], "3210000");
    assert!(
        reqs[0]
            .raw_query
            .contains("start_time=2026-06-15T00%3A00%3A00Z")
    );
    assert_eq!(reqs[1].method, "PUT");
    assert_eq!(reqs[1].path, "/12/accounts/acc/line_items/ml5vs");
    assert_eq!(reqs[1].raw_query, "end_time=&entity_status=PAUSED");
    assert_eq!(reqs[1].header("idempotency-key"), None);
}

#[tokio::test]
async fn promoted_tweets_create_update_and_the_50_id_limit() {
    let stub = Stub::start(vec![Reply::json(
        200,
        r#"{"data":[{"id":"1e8i2k","line_item_id":"8v7jo","tweet_id":"1","entity_status":"ACTIVE"},{"id":"1e8i2l","line_item_id":"8v7jo","tweet_id":"2"}],"request":{"params":{"tweet_ids":[1,2]}},"total_count":2}"#,
    )])
    .await;
    let ads = stub.ads(RetryPolicy::none());
    let created = ads
        .create_promoted_tweets(
            "acc",
            &PromotedTweetsCreate {
                line_item_id: "8v7jo".into(),
                tweet_ids: vec!["1".into(), "2".into()],
            },
            &CallOptions::idempotency_key("pt-1"),
        )
        .await
        .unwrap();
    assert_eq!(created.data.len(), 2);
    assert_eq!(created.total_count, Some(2));
    let req = stub.single();
    assert_eq!(req.path, "/12/accounts/acc/promoted_tweets");
    assert_eq!(req.params()["tweet_ids"], "1,2");
    assert_eq!(req.params()["line_item_id"], "8v7jo");

    let too_many = PromotedTweetsCreate {
        line_item_id: "8v7jo".into(),
        tweet_ids: (0..51).map(|i| i.to_string()).collect(),
    };
    let err = ads
        .create_promoted_tweets("acc", &too_many, &CallOptions::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1 to 50"), "{err}");
    assert_eq!(stub.requests().len(), 1, "invalid calls are not sent");
}

#[tokio::test]
async fn promoted_tweet_put_refusal_is_surfaced() {
    let stub = Stub::start(vec![Reply::error(
        400,
        "INVALID_PARAMETER",
        "It is not possible to update promoted tweets",
    )])
    .await;
    let err = stub
        .ads(RetryPolicy::default())
        .update_promoted_tweet("acc", "1e8i2k", EntityStatus::Paused, &CallOptions::new())
        .await
        .unwrap_err();
    let req = stub.single();
    assert_eq!(req.method, "PUT");
    assert_eq!(req.path, "/12/accounts/acc/promoted_tweets/1e8i2k");
    assert_eq!(req.raw_query, "entity_status=PAUSED");
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        err.to_string(),
        "X Ads update_promoted_tweet: 400 — It is not possible to update promoted tweets"
    );
}

#[tokio::test]
async fn media_library_create_and_count_cap() {
    let stub = Stub::start(vec![Reply::ok(r#"{"media_key":"3_931236738554519552"}"#)]).await;
    let ads = stub.ads(RetryPolicy::none());
    ads.create_media_library_entry(
        "acc",
        &MediaLibraryCreate {
            media_key: "3_931236738554519552".into(),
            name: Some("Latte".into()),
            ..Default::default()
        },
        &CallOptions::idempotency_key("m-1"),
    )
    .await
    .unwrap();
    let req = stub.single();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/12/accounts/acc/media_library");
    assert_eq!(req.raw_query, "media_key=3_931236738554519552&name=Latte");
    let err = ads
        .list_media_library("acc", &ListParams::new().count(51))
        .await
        .unwrap_err();
    assert!(matches!(err, XError::Invalid { .. }));
    let err = ads
        .list_campaigns("acc", &ListParams::new().count(1001))
        .await
        .unwrap_err();
    assert!(matches!(err, XError::Invalid { .. }));
    assert_eq!(stub.requests().len(), 1);
}

fn stats_query() -> StatsQuery {
    StatsQuery {
        entity: StatsEntityType::Campaign,
        entity_ids: vec!["8wku2".into(), "8wku3".into()],
        start_time: Utc.with_ymd_and_hms(2026, 5, 19, 7, 0, 0).unwrap(),
        end_time: Utc.with_ymd_and_hms(2026, 5, 20, 7, 0, 0).unwrap(),
        granularity: Granularity::Hour,
        placement: Placement::AllOnTwitter,
        metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
    }
}

#[tokio::test]
async fn stats_request_and_client_side_rules() {
    let stub = Stub::start(vec![Reply::json(
        200,
        r#"{"data_type":"stats","time_series_length":1,"data":[{"id":"8wku2","id_data":[{"segment":null,"metrics":{"impressions":[5],"billed_charge_local_micro":null}}]}],"request":{"params":{"granularity":"HOUR"}}}"#,
    )])
    .await;
    let ads = stub.ads(RetryPolicy::none());
    let r = ads.stats("acc", &stats_query()).await.unwrap();
    assert_eq!(
        r.data.data[0].id_data[0]
            .metrics
            .count_series("impressions"),
        Some(vec![Some(5)])
    );
    assert_eq!(
        r.data.data[0].id_data[0]
            .metrics
            .count_series("billed_charge_local_micro"),
        None
    );
    assert_eq!(r.request_params["granularity"], "HOUR");
    let req = stub.single();
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/12/stats/accounts/acc");
    let p = req.params();
    assert_eq!(p["entity"], "CAMPAIGN");
    assert_eq!(p["entity_ids"], "8wku2,8wku3");
    assert_eq!(p["start_time"], "2026-05-19T07:00:00Z");
    assert_eq!(p["end_time"], "2026-05-20T07:00:00Z");
    assert_eq!(p["granularity"], "HOUR");
    assert_eq!(p["placement"], "ALL_ON_TWITTER");
    assert_eq!(p["metric_groups"], "ENGAGEMENT,BILLING");

    let mut q = stats_query();
    q.entity_ids = (0..21).map(|i| format!("c{i}")).collect();
    let err = ads.stats("acc", &q).await.unwrap_err();
    assert!(
        matches!(
            err,
            XError::Invalid {
                operation: "stats",
                ..
            }
        ),
        "{err}"
    );
    let mut q = stats_query();
    q.start_time = Utc.with_ymd_and_hms(2026, 5, 19, 7, 30, 0).unwrap();
    assert!(
        ads.stats("acc", &q)
            .await
            .unwrap_err()
            .to_string()
            .contains("whole hours")
    );
    let mut q = stats_query();
    q.end_time = q.start_time + chrono::Duration::days(8);
    assert!(
        ads.stats("acc", &q)
            .await
            .unwrap_err()
            .to_string()
            .contains("7 days")
    );
    assert_eq!(stub.requests().len(), 1, "invalid stats calls are not sent");
}

#[tokio::test]
async fn active_entities_request() {
    let stub = Stub::start(vec![Reply::ok(
        r#"[{"entity_id":"2mvb28","activity_start_time":"2026-02-28T01:30:07Z","activity_end_time":"2026-03-01T07:42:55Z","placements":["ALL_ON_TWITTER"]}]"#,
    )])
    .await;
    let start = Utc.with_ymd_and_hms(2026, 2, 28, 8, 0, 0).unwrap();
    let mut q = ActiveEntitiesQuery::new(
        StatsEntityType::PromotedTweet,
        start,
        start + chrono::Duration::days(1),
    );
    q.line_item_ids = vec!["a".into(), "b".into()];
    let r = stub
        .ads(RetryPolicy::none())
        .active_entities("acc", &q)
        .await
        .unwrap();
    assert_eq!(r.data[0].entity_id, "2mvb28");
    let req = stub.single();
    assert_eq!(req.path, "/12/stats/accounts/acc/active_entities");
    let p = req.params();
    assert_eq!(p["entity"], "PROMOTED_TWEET");
    assert_eq!(p["line_item_ids"], "a,b");
    assert_eq!(p["start_time"], "2026-02-28T08:00:00Z");
}

#[tokio::test]
async fn list_all_follows_cursors_to_the_end() {
    let stub = Stub::start(vec![
        Reply::json(
            200,
            &format!(r#"{{"data":[{CAMPAIGN}],"next_cursor":"c-1"}}"#),
        ),
        Reply::json(200, r#"{"data":[{"id":"x2"}],"next_cursor":"c-2"}"#),
        Reply::json(200, r#"{"data":[{"id":"x3"}],"next_cursor":null}"#),
    ])
    .await;
    let all = stub
        .ads(RetryPolicy::none())
        .list_all_campaigns("acc", &ListParams::new().count(1000).with_draft(true))
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["8wku2", "x2", "x3"]);
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].params().get("cursor"), None);
    assert_eq!(reqs[1].params()["cursor"], "c-1");
    assert_eq!(reqs[2].params()["cursor"], "c-2");
    assert!(reqs.iter().all(|r| r.params()["with_draft"] == "true"));
}

#[tokio::test]
async fn a_repeated_cursor_is_an_error_not_a_loop() {
    let stub = Stub::start(vec![Reply::json(
        200,
        r#"{"data":[{"id":"x"}],"next_cursor":"same"}"#,
    )])
    .await;
    let err = stub
        .ads(RetryPolicy::none())
        .list_all_line_items("acc", &ListParams::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("repeated cursor"), "{err}");
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn accounts_and_funding_instruments_paths() {
    let stub = Stub::start(vec![
        Reply::json(
            200,
            r#"{"data":[{"id":"18ce54d4x5t","name":"n"}],"next_cursor":null}"#,
        ),
        Reply::ok(r#"{"id":"lygyi","currency":"JPY","entity_status":"ACTIVE"}"#),
    ])
    .await;
    let ads = stub.ads(RetryPolicy::none());
    let accounts = ads.list_all_accounts(&ListParams::new()).await.unwrap();
    assert_eq!(accounts[0].id, "18ce54d4x5t");
    let fi = ads
        .get_funding_instrument("18ce54d4x5t", "lygyi")
        .await
        .unwrap();
    assert_eq!(fi.data.currency.as_deref(), Some("JPY"));
    let reqs = stub.requests();
    assert_eq!(reqs[0].path, "/12/accounts");
    assert_eq!(
        reqs[1].path,
        "/12/accounts/18ce54d4x5t/funding_instruments/lygyi"
    );
}

/// A gate that records every call.
#[derive(Default)]
struct RecordingGate {
    acquired: Mutex<Vec<RateKey>>,
    observed: Mutex<Vec<RateLimitInfo>>,
}

#[async_trait]
impl RateGate for RecordingGate {
    async fn acquire(&self, key: &RateKey) -> Result<(), GateError> {
        self.acquired.lock().unwrap().push(key.clone());
        Ok(())
    }
    async fn observe(&self, _key: &RateKey, info: &RateLimitInfo) {
        self.observed.lock().unwrap().push(info.clone());
    }
}

#[tokio::test]
async fn the_gate_is_asked_before_and_told_after_every_call() {
    let stub = Stub::start(vec![
        Reply::ok(CAMPAIGN)
            .header("x-account-rate-limit-limit", 2000)
            .header("x-account-rate-limit-remaining", 1999)
            .header("x-account-rate-limit-reset", 1_900_000_000)
            .header("x-rate-limit-remaining", 5)
            .header("x-transaction", "tx-42"),
    ])
    .await;
    let gate = Arc::new(RecordingGate::default());
    let client = XAdsClient::builder()
        .ads_base_url(&stub.url)
        .client_id("client-1")
        .gate(gate.clone())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let ads = client.with_auth(Arc::new(BearerSigner::new(TOKEN)), "conn-9");
    let r = ads.get_campaign("acc", "8wku2", true).await.unwrap();
    assert_eq!(r.rate_limit.scope, Some(LimitScope::Account));
    assert_eq!(r.rate_limit.remaining, Some(1999));
    assert_eq!(r.rate_limit.reset.unwrap().timestamp(), 1_900_000_000);
    assert_eq!(r.request_id.as_deref(), Some("tx-42"));
    assert_eq!(stub.single().params()["with_deleted"], "true");
    ads.create_campaign("acc", &CampaignCreate::default(), &CallOptions::new())
        .await
        .unwrap();

    let acquired = gate.acquired.lock().unwrap().clone();
    assert_eq!(
        acquired[0],
        RateKey {
            client_id: "client-1".into(),
            account_id: Some("acc".into()),
            token_id: "conn-9".into(),
            family: EndpointFamily::CoreRead,
        }
    );
    assert_eq!(acquired[1].family, EndpointFamily::Write);
    let observed = gate.observed.lock().unwrap().clone();
    assert_eq!(observed.len(), 2);
    assert_eq!(observed[0].remaining, Some(1999));
}

/// A gate that refuses.
struct ClosedGate;

#[async_trait]
impl RateGate for ClosedGate {
    async fn acquire(&self, key: &RateKey) -> Result<(), GateError> {
        Err(GateError::DeadlineExceeded {
            waited: std::time::Duration::from_secs(5),
            family: key.family.as_str(),
            account: key.account_id.clone().unwrap_or_else(|| "-".into()),
        })
    }
    async fn observe(&self, _key: &RateKey, _info: &RateLimitInfo) {}
}

#[tokio::test]
async fn a_refusing_gate_stops_the_call_before_it_is_sent() {
    let stub = Stub::start(vec![Reply::ok(CAMPAIGN)]).await;
    let client = XAdsClient::builder()
        .ads_base_url(&stub.url)
        .gate(Arc::new(ClosedGate))
        .build()
        .unwrap();
    let err = client
        .with_auth(Arc::new(BearerSigner::new(TOKEN)), "conn")
        .get_campaign("acc", "c", false)
        .await
        .unwrap_err();
    assert!(matches!(err, XError::Gate(_)));
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn targeting_criteria_require_line_item_ids() {
    let stub = Stub::start(vec![
        Reply::json(200, r#"{"data":[{"id":"dpl3a6","line_item_id":"8u94t","targeting_type":"LOCATION","targeting_value":"96683cc9126741d1"}],"next_cursor":null}"#),
        Reply::ok(r#"{"id":"fbyjlr","line_item_id":"8u94t","targeting_type":"LOCATION","targeting_value":"96683cc9126741d1"}"#),
    ])
    .await;
    let ads = stub.ads(RetryPolicy::none());
    let err = ads
        .list_targeting_criteria("acc", &[], &ListParams::new())
        .await
        .unwrap_err();
    assert!(matches!(err, XError::Invalid { .. }));
    let all = ads
        .list_all_targeting_criteria("acc", &["8u94t".to_string()], &ListParams::new())
        .await
        .unwrap();
    assert_eq!(all[0].targeting_value.as_deref(), Some("96683cc9126741d1"));
    ads.create_targeting_criterion(
        "acc",
        &xads_client::models::TargetingCriterionCreate {
            line_item_id: "8u94t".into(),
            targeting_type: "LOCATION".into(),
            targeting_value: "96683cc9126741d1".into(),
            operator_type: None,
        },
        &CallOptions::idempotency_key("tc-1"),
    )
    .await
    .unwrap();
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/12/accounts/acc/targeting_criteria");
    assert_eq!(reqs[0].params()["line_item_ids"], "8u94t");
    assert_eq!(reqs[1].method, "POST");
    assert_eq!(
        reqs[1].raw_query,
        "line_item_id=8u94t&targeting_type=LOCATION&targeting_value=96683cc9126741d1"
    );
}
