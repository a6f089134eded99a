//! Every public future is `Send`, so the service can await them in axum handlers and spawned tasks.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use xads_client::media::MediaInit;
use xads_client::models::{
    ActiveEntitiesQuery, CampaignCreate, CampaignUpdate, EntityStatus, Granularity, LineItemCreate,
    LineItemUpdate, MediaLibraryCreate, MetricGroup, Placement, PromotedTweetsCreate,
    StatsEntityType, StatsQuery, TargetingCriterionCreate,
};
use xads_client::oauth1_flow::RequestToken;
use xads_client::{BearerSigner, CallOptions, ListParams, OAuth1Signer, Secret, XAdsClient};

fn is_send<T: Send>(_: T) {}

#[test]
fn endpoint_futures_are_send() {
    let client = XAdsClient::builder().build().unwrap();
    let x = client.with_auth(Arc::new(BearerSigner::new("t")), "c");
    let p = ListParams::new();
    let o = CallOptions::new();
    let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let s = Secret::new("s");
    let stats = StatsQuery {
        entity: StatsEntityType::Campaign,
        entity_ids: vec![],
        start_time: t,
        end_time: t,
        granularity: Granularity::Day,
        placement: Placement::AllOnTwitter,
        metric_groups: vec![MetricGroup::Engagement],
    };
    let ae = ActiveEntitiesQuery::new(StatsEntityType::Campaign, t, t);
    let rt = RequestToken {
        token: "r".into(),
        secret: s.clone(),
        callback_confirmed: true,
    };
    let o1 = OAuth1Signer::new("k", "s", "t", "ts");
    let ids = vec!["l".to_string()];

    is_send(x.list_accounts(&p));
    is_send(x.list_all_accounts(&p));
    is_send(x.get_account("a"));
    is_send(x.list_funding_instruments("a", &p));
    is_send(x.list_all_funding_instruments("a", &p));
    is_send(x.get_funding_instrument("a", "f"));
    is_send(x.list_campaigns("a", &p));
    is_send(x.list_all_campaigns("a", &p));
    is_send(x.get_campaign("a", "c", false));
    is_send(x.create_campaign("a", &CampaignCreate::default(), &o));
    is_send(x.update_campaign("a", "c", &CampaignUpdate::default(), &o));
    is_send(x.delete_campaign("a", "c", &o));
    is_send(x.list_line_items("a", &p));
    is_send(x.list_all_line_items("a", &p));
    is_send(x.get_line_item("a", "l", false));
    let li = LineItemCreate::new(
        "c",
        xads_client::vocab::Objective::Engagements,
        xads_client::vocab::ProductType::PromotedTweets,
        vec![],
    );
    is_send(x.create_line_item("a", &li, &o));
    is_send(x.update_line_item("a", "l", &LineItemUpdate::default(), &o));
    is_send(x.delete_line_item("a", "l", &o));
    is_send(x.list_promoted_tweets("a", &p));
    is_send(x.list_all_promoted_tweets("a", &p));
    is_send(x.get_promoted_tweet("a", "p", false));
    is_send(x.create_promoted_tweets("a", &PromotedTweetsCreate::default(), &o));
    is_send(x.update_promoted_tweet("a", "p", EntityStatus::Paused, &o));
    is_send(x.delete_promoted_tweet("a", "p", &o));
    is_send(x.list_media_library("a", &p));
    is_send(x.list_all_media_library("a", &p));
    is_send(x.get_media_library_entry("a", "m"));
    is_send(x.create_media_library_entry("a", &MediaLibraryCreate::default(), &o));
    is_send(x.delete_media_library_entry("a", "m", &o));
    is_send(x.list_targeting_criteria("a", &ids, &p));
    is_send(x.list_all_targeting_criteria("a", &ids, &p));
    is_send(x.create_targeting_criterion("a", &TargetingCriterionCreate::default(), &o));
    is_send(x.delete_targeting_criterion("a", "t", &o));
    is_send(x.stats("a", &stats));
    is_send(x.active_entities("a", &ae));
    is_send(x.media_initialize(&MediaInit::default()));
    is_send(x.media_append("m", 0, Bytes::new()));
    is_send(x.media_finalize("m"));
    is_send(x.media_status("m"));
    is_send(client.exchange_code("c", "r", "v", "id", Some(&s)));
    is_send(client.refresh(&s, "id", None));
    is_send(client.revoke(&s, "id", None));
    is_send(client.oauth1_request_token("k", &s, "cb"));
    is_send(client.oauth1_access_token("k", &s, &rt, "v"));
    is_send(client.oauth1_invalidate_token(&o1));
}
