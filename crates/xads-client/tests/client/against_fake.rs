//! The client against `xads-fake`, the stateful fake of X: the same calls the service makes, end
//! to end, including OAuth 1.0a signatures checked by the fake and a write whose connection drops
//! after X committed it.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{Duration, DurationRound, Utc};
use xads_client::media::{MediaInit, ProcessingState};
use xads_client::models::{
    ActiveEntitiesQuery, CampaignCreate, CampaignUpdate, EntityStatus, Granularity, LineItemCreate,
    MediaLibraryCreate, MetricGroup, Placement, PromotedTweetsCreate, StatsEntityType, StatsQuery,
};
use xads_client::vocab::{BidStrategy, LineItemPlacement, Objective, ProductType};
use xads_client::{
    BearerSigner, CallOptions, ErrorClass, ListParams, OAuth1Signer, RetryPolicy, Secret, XAds,
    XAdsClient, XError,
};
use xads_fake::{FakeConfig, FakeX, FaultKind, FaultRule};

pub async fn fake() -> FakeX {
    FakeX::start(FakeConfig::default()).await.unwrap()
}

fn client(fake: &FakeX, retry: RetryPolicy) -> XAdsClient {
    let url = fake.base_url().to_string();
    XAdsClient::builder()
        .ads_base_url(&url)
        .api_base_url(&url)
        .client_id(fake.state().config().client_id.clone())
        .timeout(None)
        .retry_policy(retry)
        .build()
        .unwrap()
}

pub fn bearer(fake: &FakeX, retry: RetryPolicy) -> XAds {
    let user = fake.state().seed_info().user_id;
    let tokens = fake
        .state()
        .issue_tokens(&user, "ads.read ads.write offline.access");
    client(fake, retry).with_auth(Arc::new(BearerSigner::new(tokens.access_token)), "conn-1")
}

#[tokio::test]
async fn reads_writes_and_stats_round_trip() {
    let fake = fake().await;
    let seed = fake.state().seed_info();
    let acc = seed.usd_account_id.clone();
    let x = bearer(&fake, RetryPolicy::default());

    let accounts = x
        .list_all_accounts(&ListParams::new().count(1000))
        .await
        .unwrap();
    assert!(accounts.iter().any(|a| a.id == acc));
    let fis = x
        .list_all_funding_instruments(&acc, &ListParams::new())
        .await
        .unwrap();
    assert_eq!(fis[0].currency.as_deref(), Some("USD"));

    // Pages of one item, followed to the end.
    let all = x
        .list_all_campaigns(&acc, &ListParams::new().count(1))
        .await
        .unwrap();
    assert_eq!(all.len(), seed.accounts[0].campaign_ids.len());

    let created = x
        .create_campaign(
            &acc,
            &CampaignCreate {
                funding_instrument_id: fis[0].id.clone(),
                name: "Spring, sale: 50%".into(),
                daily_budget_amount_local_micro: Some(5_000_000),
                entity_status: Some(EntityStatus::Paused),
                ..Default::default()
            },
            &CallOptions::idempotency_key("idem-create-1"),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(created.name.as_deref(), Some("Spring, sale: 50%"));
    assert_eq!(created.entity_status, Some(EntityStatus::Paused));
    let resumed = x
        .update_campaign(
            &acc,
            &created.id,
            &CampaignUpdate::status(EntityStatus::Active),
            &CallOptions::idempotency_key("idem-update-1"),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(resumed.entity_status, Some(EntityStatus::Active));

    let li = x
        .create_line_item(
            &acc,
            &LineItemCreate {
                bid_strategy: Some(BidStrategy::Max),
                bid_amount_local_micro: Some(1_500_000),
                start_time: Some(Utc::now().duration_trunc(Duration::hours(1)).unwrap()),
                entity_status: Some(EntityStatus::Paused),
                ..LineItemCreate::new(
                    created.id.clone(),
                    Objective::Engagements,
                    ProductType::PromotedTweets,
                    vec![LineItemPlacement::AllOnTwitter],
                )
            },
            &CallOptions::idempotency_key("idem-li-1"),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(li.campaign_id.as_deref(), Some(created.id.as_str()));

    let pts = x
        .create_promoted_tweets(
            &acc,
            &PromotedTweetsCreate {
                line_item_id: li.id.clone(),
                tweet_ids: seed.accounts[0].tweet_ids[..2].to_vec(),
            },
            &CallOptions::idempotency_key("idem-pt-1"),
        )
        .await
        .unwrap();
    assert_eq!(pts.data.len(), 2);

    let deleted = x
        .delete_campaign(
            &acc,
            &created.id,
            &CallOptions::idempotency_key("idem-del-1"),
        )
        .await
        .unwrap()
        .data;
    assert!(deleted.deleted);
    let gone = x.get_campaign(&acc, &created.id, false).await.unwrap_err();
    assert_eq!(gone.class(), ErrorClass::NotFound);

    // Every write reached the fake with its idempotency key and its params in the query.
    let writes: Vec<_> = fake
        .state()
        .ledger()
        .into_iter()
        .filter(|e| e.is_write())
        .collect();
    assert_eq!(writes.len(), 5);
    assert!(writes.iter().all(|w| w.header("idempotency-key").is_some()));
    assert_eq!(writes[0].query_param("name"), Some("Spring, sale: 50%"));

    let end = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let stats = x
        .stats(
            &acc,
            &StatsQuery {
                entity: StatsEntityType::Campaign,
                entity_ids: seed.accounts[0].campaign_ids.clone(),
                start_time: end - Duration::days(2),
                end_time: end,
                granularity: Granularity::Hour,
                placement: Placement::AllOnTwitter,
                metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
            },
        )
        .await
        .unwrap()
        .data;
    assert_eq!(stats.time_series_length, Some(48));
    assert_eq!(stats.data.len(), seed.accounts[0].campaign_ids.len());
    for e in &stats.data {
        let m = &e.id_data[0].metrics;
        assert!(m.has("impressions") && m.has("billed_charge_local_micro"));
        if let Some(series) = m.count_series("impressions") {
            assert_eq!(series.len(), 48);
        }
    }
    let active = x
        .active_entities(
            &acc,
            &ActiveEntitiesQuery::new(StatsEntityType::Campaign, end - Duration::days(2), end),
        )
        .await
        .unwrap();
    assert!(active.data.iter().all(|a| !a.entity_id.is_empty()));
}

#[tokio::test]
async fn foreign_account_is_a_403_account_not_found() {
    let fake = fake().await;
    let foreign = fake.state().seed_info().foreign_account_id;
    let err = bearer(&fake, RetryPolicy::default())
        .list_campaigns(&foreign, &ListParams::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.first_code().as_deref(), Some("ACCOUNT_NOT_FOUND"));
}

#[tokio::test]
async fn oauth1_signatures_are_accepted_by_the_fake() {
    let fake = fake().await;
    let cfg = fake.state().config().clone();
    let (token, secret) = fake
        .state()
        .issue_oauth1_tokens(&fake.state().seed_info().user_id);
    let signer = OAuth1Signer::new(cfg.consumer_key, cfg.consumer_secret, token, secret);
    let x = client(&fake, RetryPolicy::none()).with_auth(Arc::new(signer), "conn-oauth1");
    let acc = fake.state().seed_info().usd_account_id;
    // Commas, colons and spaces in the signed query string.
    x.list_campaigns(
        &acc,
        &ListParams::new()
            .ids(
                "campaign_ids",
                fake.state().seed_info().accounts[0].campaign_ids.clone(),
            )
            .q("a b:c"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn token_refresh_rotates_and_bad_refresh_is_an_oauth_error() {
    let fake = fake().await;
    let cfg = fake.state().config().clone();
    let tokens = fake.state().issue_tokens(
        &fake.state().seed_info().user_id,
        "ads.read ads.write offline.access",
    );
    let c = client(&fake, RetryPolicy::default());
    let secret = Secret::new(cfg.client_secret.clone());
    let old = Secret::new(tokens.refresh_token.unwrap());
    let fresh = c
        .refresh(&old, &cfg.client_id, Some(&secret))
        .await
        .unwrap();
    assert_ne!(fresh.refresh_token.as_ref().unwrap().expose(), old.expose());
    assert_eq!(fresh.expires_in, Some(7200));
    let err = c
        .refresh(&Secret::new("not-a-token"), &cfg.client_id, Some(&secret))
        .await
        .unwrap_err();
    assert!(matches!(err, XError::OAuth { status: 400, .. }), "{err:?}");
    assert!(
        c.revoke(
            &Secret::new(fresh.access_token.expose()),
            &cfg.client_id,
            Some(&secret)
        )
        .await
        .unwrap()
    );
}

#[tokio::test]
async fn media_upload_then_media_library() {
    let fake = fake().await;
    let acc = fake.state().seed_info().usd_account_id;
    let x = bearer(&fake, RetryPolicy::default());
    let bytes = Bytes::from(vec![7u8; 3000]);
    let init = x
        .media_initialize(&MediaInit {
            media_type: "image/jpeg".into(),
            total_bytes: bytes.len() as u64,
            media_category: "tweet_image".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .data;
    x.media_append(&init.id, 0, bytes.slice(..2000))
        .await
        .unwrap();
    x.media_append(&init.id, 1, bytes.slice(2000..))
        .await
        .unwrap();
    let fin = x.media_finalize(&init.id).await.unwrap().data;
    if let Some(info) = &fin.processing_info {
        assert_ne!(info.state, ProcessingState::Failed);
    }
    let key = fin.media_key.or(init.media_key).unwrap();
    let entry = x
        .create_media_library_entry(
            &acc,
            &MediaLibraryCreate {
                media_key: key.clone(),
                name: Some("latte".into()),
                ..Default::default()
            },
            &CallOptions::idempotency_key("idem-media-1"),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(entry.media_key, key);
    let listed = x
        .list_all_media_library(&acc, &ListParams::new().count(50))
        .await
        .unwrap();
    assert!(listed.iter().any(|m| m.media_key == key));
}

#[tokio::test(start_paused = true)]
async fn faults_503_then_success_and_a_write_dropped_after_commit() {
    let fake = fake().await;
    let acc = fake.state().seed_info().usd_account_id;
    let x = bearer(&fake, RetryPolicy::default());
    let campaigns_path = format!("/12/accounts/{acc}/campaigns");

    fake.state().add_fault(
        FaultRule::new(
            Some("GET"),
            &campaigns_path,
            FaultKind::ServiceUnavailable {
                retry_after_secs: 2,
            },
        )
        .times(2),
    );
    let page = x.list_campaigns(&acc, &ListParams::new()).await.unwrap();
    assert!(!page.data.is_empty());
    let gets = fake
        .state()
        .ledger()
        .into_iter()
        .filter(|e| e.method == "GET" && e.path == campaigns_path)
        .count();
    assert_eq!(gets, 3);

    fake.state().clear_ledger();
    fake.state().add_fault(
        FaultRule::new(Some("POST"), &campaigns_path, FaultKind::DropAfterCommit).times(1),
    );
    let before = fake.state().campaigns(&acc).len();
    let fi = fake.state().seed_info().accounts[0]
        .funding_instrument_id
        .clone();
    let err = x
        .create_campaign(
            &acc,
            &CampaignCreate {
                funding_instrument_id: fi,
                name: "dropped".into(),
                ..Default::default()
            },
            &CallOptions::idempotency_key("idem-drop"),
        )
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    // Not retried blindly: exactly one POST, and X did create the campaign.
    let posts = fake
        .state()
        .ledger()
        .into_iter()
        .filter(|e| e.method == "POST")
        .count();
    assert_eq!(posts, 1);
    assert_eq!(fake.state().campaigns(&acc).len(), before + 1);
}

/// One error of each class, as the fake X answers them, parsed into `XError` values.
#[tokio::test]
async fn every_error_class_from_the_fake_is_parsed() {
    let fake = fake().await;
    let acc = fake.state().seed_info().usd_account_id;
    let x = bearer(&fake, RetryPolicy::none());
    let campaigns_path = format!("/12/accounts/{acc}/campaigns");

    // 400 with the parameter X names.
    let err = x
        .create_campaign(
            &acc,
            &CampaignCreate {
                funding_instrument_id: "nosuchfi".into(),
                name: String::new(),
                ..Default::default()
            },
            &CallOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    let XError::Api { errors, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(errors.iter().any(|e| e.parameter.is_some()), "{errors:?}");
    assert!(err.to_string().starts_with("X Ads create_campaign: 400 — "));

    // 401: a token X never issued.
    let stranger = client(&fake, RetryPolicy::none())
        .with_auth(Arc::new(BearerSigner::new("not-a-token")), "conn-x");
    let err = stranger
        .list_accounts(&ListParams::new())
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.class()),
        (Some(401), ErrorClass::Unauthorized)
    );
    assert_eq!(err.first_code().as_deref(), Some("UNAUTHORIZED_ACCESS"));

    // 404: an unknown campaign.
    let err = x.get_campaign(&acc, "zzzzzzz", false).await.unwrap_err();
    assert_eq!(
        (err.status(), err.class()),
        (Some(404), ErrorClass::NotFound)
    );

    // 429 with its reset.
    fake.state().add_fault(
        FaultRule::new(
            Some("GET"),
            &campaigns_path,
            FaultKind::RateLimited {
                reset_after_secs: 90,
            },
        )
        .times(1),
    );
    let err = x
        .list_campaigns(&acc, &ListParams::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    let reset = err
        .rate_limit()
        .and_then(|r| r.reset)
        .expect("reset parsed");
    let ahead = reset - Utc::now();
    assert!(
        ahead > Duration::seconds(30) && ahead <= Duration::seconds(120),
        "{ahead}"
    );
    assert_eq!(err.rate_limit().and_then(|r| r.remaining), Some(0));

    // 503 with retry-after.
    fake.state().add_fault(
        FaultRule::new(
            Some("GET"),
            &campaigns_path,
            FaultKind::ServiceUnavailable {
                retry_after_secs: 7,
            },
        )
        .times(1),
    );
    let err = x
        .list_campaigns(&acc, &ListParams::new())
        .await
        .unwrap_err();
    let XError::Api {
        status,
        retry_after,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (*status, *retry_after),
        (503, Some(std::time::Duration::from_secs(7)))
    );

    // 502 whose body is HTML, not JSON: the status is authoritative.
    fake.state().add_fault(
        FaultRule::new(Some("GET"), &campaigns_path, FaultKind::BadGatewayHtml).times(1),
    );
    let err = x
        .list_campaigns(&acc, &ListParams::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert!(err.is_retryable());
}
