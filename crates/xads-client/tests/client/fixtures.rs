//! X's published response bodies parse into our wire types, and no fixture goes unnoticed.

use std::collections::BTreeSet;
use std::path::PathBuf;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use http::HeaderMap;
use serde::de::DeserializeOwned;
use xads_client::envelope::{RawResponse, decode_envelope, decode_error, decode_whole};
use xads_client::media::{MediaUpload, ProcessingState};
use xads_client::models::{
    Account, ActiveEntity, Campaign, EntityStatus, FundingInstrument, LineItem, MediaLibraryEntry,
    PromotedTweet, StatsJob, StatsResponse, TargetingCriterion,
};
use xads_client::{RateLimitInfo, XError, XResponse};

pub fn dir() -> PathBuf {
    // CI lays shared/ beside the clone, at the same relative place as here.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/x-ads-api")
}

pub fn raw(name: &str, status: u16) -> RawResponse {
    let body = std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    RawResponse {
        status,
        headers: HeaderMap::new(),
        body: Bytes::from(body),
        rate_limit: RateLimitInfo::default(),
        request_id: None,
    }
}

fn env<T: DeserializeOwned>(name: &str) -> XResponse<T> {
    decode_envelope(name_op(name), raw(name, 200)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn whole<T: DeserializeOwned>(name: &str) -> XResponse<T> {
    decode_whole(name_op(name), raw(name, 200)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn name_op(_: &str) -> &'static str {
    "fixture"
}

/// How a modelled fixture is parsed.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Accounts,
    Account,
    FundingInstruments,
    FundingInstrument,
    Campaigns,
    Campaign,
    LineItems,
    LineItem,
    PromotedTweets,
    PromotedTweet,
    MediaLibrary,
    MediaLibraryEntry,
    Stats,
    ActiveEntities,
    Job,
    Jobs,
    MediaUpload,
    TargetingCriteria,
    TargetingCriterion,
    Error,
    Empty,
}

const MODELLED: &[(&str, Kind)] = &[
    ("docs-x__account_timezone_example.json", Kind::Account),
    ("docs-x__accounts_delete_sandbox.json", Kind::Account),
    ("docs-x__accounts_get_all.json", Kind::Accounts),
    ("docs-x__accounts_get_one.json", Kind::Account),
    ("docs-x__accounts_post_sandbox.json", Kind::Accounts),
    ("python-sdk__accounts_all.json", Kind::Accounts),
    ("python-sdk__accounts_load.json", Kind::Account),
    ("ruby-sdk__accounts_load.json", Kind::Account),
    ("twitter-ads-cr__v12_accounts.json", Kind::Accounts),
    (
        "docs-x__funding_instruments_delete_sandbox.json",
        Kind::FundingInstrument,
    ),
    (
        "docs-x__funding_instruments_get_all.json",
        Kind::FundingInstruments,
    ),
    (
        "docs-x__funding_instruments_get_one.json",
        Kind::FundingInstrument,
    ),
    (
        "docs-x__funding_instruments_post_sandbox.json",
        Kind::FundingInstrument,
    ),
    (
        "python-sdk__funding_instruments_all.json",
        Kind::FundingInstruments,
    ),
    (
        "python-sdk__funding_instruments_load.json",
        Kind::FundingInstrument,
    ),
    (
        "ruby-sdk__funding_instruments_all.json",
        Kind::FundingInstruments,
    ),
    (
        "ruby-sdk__funding_instruments_load.json",
        Kind::FundingInstrument,
    ),
    (
        "twitter-ads-cr__v12_funding_instruments.json",
        Kind::FundingInstruments,
    ),
    ("docs-x__campaigns_delete.json", Kind::Campaign),
    ("docs-x__campaigns_get_all.json", Kind::Campaigns),
    ("docs-x__campaigns_get_one.json", Kind::Campaign),
    ("docs-x__campaigns_post.json", Kind::Campaign),
    ("docs-x__campaigns_put.json", Kind::Campaign),
    ("python-sdk__campaigns_all.json", Kind::Campaigns),
    ("python-sdk__campaigns_load.json", Kind::Campaign),
    ("ruby-sdk__campaigns_all.json", Kind::Campaigns),
    ("twitter-ads-cr__v12_campaigns.json", Kind::Campaigns),
    ("docs-x__line_items_delete.json", Kind::LineItem),
    ("docs-x__line_items_get_all.json", Kind::LineItems),
    ("docs-x__line_items_get_one.json", Kind::LineItem),
    ("docs-x__line_items_post.json", Kind::LineItem),
    ("docs-x__line_items_put.json", Kind::LineItem),
    ("python-sdk__line_items_all.json", Kind::LineItems),
    ("python-sdk__line_items_load.json", Kind::LineItem),
    ("ruby-sdk__line_items_all.json", Kind::LineItems),
    ("ruby-sdk__line_items_load.json", Kind::LineItem),
    ("twitter-ads-cr__v12_line_items.json", Kind::LineItems),
    ("docs-x__promoted_tweets_delete.json", Kind::PromotedTweet),
    ("docs-x__promoted_tweets_get_all.json", Kind::PromotedTweets),
    ("docs-x__promoted_tweets_get_one.json", Kind::PromotedTweet),
    ("docs-x__promoted_tweets_post.json", Kind::PromotedTweets),
    ("python-sdk__promoted_tweets_all.json", Kind::PromotedTweets),
    (
        "python-sdk__promoted_tweets_attach.json",
        Kind::PromotedTweets,
    ),
    ("python-sdk__promoted_tweets_load.json", Kind::PromotedTweet),
    (
        "twitter-ads-cr__v12_promoted_tweets.json",
        Kind::PromotedTweets,
    ),
    ("docs-x__media_library_delete.json", Kind::MediaLibraryEntry),
    ("docs-x__media_library_get_all.json", Kind::MediaLibrary),
    (
        "docs-x__media_library_get_one.json",
        Kind::MediaLibraryEntry,
    ),
    ("docs-x__media_library_post.json", Kind::MediaLibraryEntry),
    (
        "docs-x__media_library_post_guide_response.json",
        Kind::MediaLibraryEntry,
    ),
    ("docs-x__media_library_put.json", Kind::MediaLibraryEntry),
    ("twitter-ads-cr__v12_media_library.json", Kind::MediaLibrary),
    ("docs-x__stats_sync_get_response.json", Kind::Stats),
    ("docs-x__stats_jobs_result_file_unzipped.json", Kind::Stats),
    ("python-sdk__analytics_sync_stats.json", Kind::Stats),
    (
        "twitter-ads-cr__v12_stats_accounts_campaign_entity.json",
        Kind::Stats,
    ),
    (
        "twitter-ads-cr__v12_stats_accounts_line_item_entity.json",
        Kind::Stats,
    ),
    (
        "docs-x__active_entities_get_response.json",
        Kind::ActiveEntities,
    ),
    (
        "docs-x__active_entities_guide_response.json",
        Kind::ActiveEntities,
    ),
    ("python-sdk__active_entities.json", Kind::ActiveEntities),
    (
        "docs-x__x-api-v2_media_upload_init_response.json",
        Kind::MediaUpload,
    ),
    (
        "docs-x__x-api-v2_media_upload_finalize_response.json",
        Kind::MediaUpload,
    ),
    (
        "docs-x__targeting_criteria_get_all.json",
        Kind::TargetingCriteria,
    ),
    (
        "docs-x__targeting_criteria_post.json",
        Kind::TargetingCriterion,
    ),
    (
        "twitter-ads-cr__v12_targeting_criteria.json",
        Kind::TargetingCriteria,
    ),
    ("docs-x__stats_jobs_post_response.json", Kind::Job),
    ("python-sdk__analytics_async_post.json", Kind::Job),
    ("community__stats_jobs_delete_v1.json", Kind::Job),
    ("docs-x__stats_jobs_get_response.json", Kind::Jobs),
    ("python-sdk__analytics_async_get.json", Kind::Jobs),
    ("docs-x__error_invalid_parameter.json", Kind::Error),
    ("ruby-sdk__no_content.json", Kind::Empty),
];

/// Fixtures for endpoints this client does not call, and why.
const NOT_MODELLED: &[(&str, &str)] = &[
    (
        "community__batch_targeting_criteria_create_delete_v1.json",
        "batch targeting (v1 era)",
    ),
    (
        "docs-x__authenticated_user_access.json",
        "authenticated_user_access",
    ),
    (
        "twitter-ads-cr__v12_authenticated_user_access.json",
        "authenticated_user_access",
    ),
    (
        "docs-x__batch_campaigns_request_body.json",
        "a request body, and batch endpoints",
    ),
    ("docs-x__batch_campaigns_response.json", "batch endpoints"),
    (
        "docs-x__batch_line_items_request_body.json",
        "a request body, and batch endpoints",
    ),
    ("docs-x__batch_line_items_response.json", "batch endpoints"),
    (
        "docs-x__batch_targeting_criteria_request_body.json",
        "a request body, and batch endpoints",
    ),
    (
        "docs-x__batch_targeting_criteria_response.json",
        "batch endpoints",
    ),
    ("docs-x__line_items_placements.json", "placements lookup"),
    ("python-sdk__placements.json", "placements lookup"),
    (
        "twitter-ads-cr__v12_line_items_placements.json",
        "placements lookup",
    ),
    (
        "docs-x__media_upload_v11_simple_response.json",
        "legacy v1.1 upload; we use v2",
    ),
    ("docs-x__reach_campaigns_response.json", "reach stats"),
    ("python-sdk__accounts_features.json", "account features"),
    ("python-sdk__app_lists_all.json", "app lists"),
    ("python-sdk__app_lists_load.json", "app lists"),
    ("python-sdk__audience_estimate.json", "audience estimate"),
    ("ruby-sdk__audience_estimate.json", "audience estimate"),
    ("python-sdk__cards_all.json", "cards"),
    ("python-sdk__cards_load.json", "cards"),
    ("python-sdk__custom_audiences_all.json", "custom audiences"),
    ("python-sdk__custom_audiences_load.json", "custom audiences"),
    (
        "python-sdk__custom_audiences_permissions_all.json",
        "custom audiences",
    ),
    ("ruby-sdk__custom_audiences_all.json", "custom audiences"),
    ("ruby-sdk__custom_audiences_load.json", "custom audiences"),
    ("python-sdk__promotable_users_all.json", "promotable users"),
    ("python-sdk__promotable_users_load.json", "promotable users"),
    (
        "twitter-ads-cr__v12_promotable_users.json",
        "promotable users",
    ),
    ("python-sdk__reach_estimate.json", "legacy reach estimate"),
    ("ruby-sdk__reach_estimate.json", "legacy reach estimate"),
    (
        "python-sdk__tailored_audiences_load.json",
        "legacy tailored audiences",
    ),
    (
        "ruby-sdk__tailored_audiences_all.json",
        "legacy tailored audiences",
    ),
    (
        "python-sdk__targeted_audiences.json",
        "custom audience targeting",
    ),
    ("python-sdk__tweet_previews.json", "tweet previews"),
    ("python-sdk__tweets_get.json", "tweets"),
    ("python-sdk__videos_all.json", "deprecated videos endpoint"),
    ("python-sdk__videos_load.json", "deprecated videos endpoint"),
    ("ruby-sdk__tracking_tags_load.json", "tracking tags"),
    ("twitter-ads-cr__v12_account_media.json", "account media"),
    (
        "twitter-ads-cr__v12_media_creatives.json",
        "media creatives",
    ),
];

fn nonempty(id: &str, name: &str) {
    assert!(!id.is_empty(), "{name}: empty id");
}

/// Parses a modelled fixture with the model its endpoint returns.
fn parse(name: &str, kind: Kind) {
    match kind {
        Kind::Accounts => env::<Vec<Account>>(name)
            .data
            .iter()
            .for_each(|a| nonempty(&a.id, name)),
        Kind::Account => nonempty(&env::<Account>(name).data.id, name),
        Kind::FundingInstruments => env::<Vec<FundingInstrument>>(name)
            .data
            .iter()
            .for_each(|f| assert!(f.currency.is_some(), "{name}: FI without currency")),
        Kind::FundingInstrument => {
            assert!(
                env::<FundingInstrument>(name).data.currency.is_some(),
                "{name}"
            )
        }
        Kind::Campaigns => env::<Vec<Campaign>>(name)
            .data
            .iter()
            .for_each(|c| nonempty(&c.id, name)),
        Kind::Campaign => nonempty(&env::<Campaign>(name).data.id, name),
        Kind::LineItems => env::<Vec<LineItem>>(name)
            .data
            .iter()
            .for_each(|l| nonempty(&l.id, name)),
        Kind::LineItem => nonempty(&env::<LineItem>(name).data.id, name),
        Kind::PromotedTweets => env::<Vec<PromotedTweet>>(name)
            .data
            .iter()
            .for_each(|p| assert!(p.tweet_id.is_some(), "{name}")),
        Kind::PromotedTweet => nonempty(&env::<PromotedTweet>(name).data.id, name),
        Kind::MediaLibrary => env::<Vec<MediaLibraryEntry>>(name)
            .data
            .iter()
            .for_each(|m| nonempty(&m.media_key, name)),
        Kind::MediaLibraryEntry => nonempty(&env::<MediaLibraryEntry>(name).data.media_key, name),
        Kind::Stats => {
            let s = whole::<StatsResponse>(name).data;
            assert_eq!(s.data_type.as_deref(), Some("stats"), "{name}");
            assert!(!s.data.is_empty(), "{name}");
            for e in &s.data {
                for d in &e.id_data {
                    for metric in d.metrics.names() {
                        // Every series is the declared length, or null (no data).
                        if let Some(series) = d.metrics.count_series(metric) {
                            assert_eq!(
                                Some(series.len() as u32),
                                s.time_series_length,
                                "{name} {metric}"
                            );
                        }
                    }
                }
            }
        }
        Kind::ActiveEntities => assert!(!env::<Vec<ActiveEntity>>(name).data.is_empty(), "{name}"),
        Kind::Job => nonempty(&env::<StatsJob>(name).data.id, name),
        Kind::Jobs => env::<Vec<StatsJob>>(name).data.iter().for_each(|j| {
            nonempty(&j.id, name);
            assert!(j.url.is_some(), "{name}: a finished job has its url");
        }),
        Kind::MediaUpload => nonempty(&env::<MediaUpload>(name).data.id, name),
        Kind::TargetingCriteria => env::<Vec<TargetingCriterion>>(name)
            .data
            .iter()
            .for_each(|t| assert!(t.targeting_type.is_some(), "{name}")),
        Kind::TargetingCriterion => nonempty(&env::<TargetingCriterion>(name).data.id, name),
        Kind::Error => {
            let e = decode_error("fixture", &raw(name, 400));
            assert_eq!(e.status(), Some(400), "{name}");
            assert!(e.first_code().is_some(), "{name}");
        }
        Kind::Empty => assert!(matches!(
            decode_envelope::<Vec<Account>>("fixture", raw(name, 200)),
            Err(XError::Decode { .. })
        )),
    }
}

#[test]
fn every_fixture_is_either_parsed_or_deliberately_not_modelled() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir())
        .expect("shared/fixtures/x-ads-api beside the repo")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let modelled: BTreeSet<String> = MODELLED.iter().map(|(n, _)| n.to_string()).collect();
    let skipped: BTreeSet<String> = NOT_MODELLED.iter().map(|(n, _)| n.to_string()).collect();
    let both: Vec<_> = modelled.intersection(&skipped).collect();
    assert!(
        both.is_empty(),
        "listed as both parsed and not modelled: {both:?}"
    );
    let listed: BTreeSet<String> = modelled.union(&skipped).cloned().collect();
    let unlisted: Vec<_> = on_disk.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "fixtures neither parsed nor listed as not modelled: {unlisted:?}"
    );
    let missing: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        missing.is_empty(),
        "listed fixtures missing on disk: {missing:?}"
    );
    for (name, kind) in MODELLED {
        parse(name, *kind);
    }
}

#[test]
fn accounts() {
    let r = env::<Vec<Account>>("docs-x__accounts_get_all.json");
    assert_eq!(r.data[0].id, "18ce54d4x5t");
    assert_eq!(r.data[0].name.as_deref(), Some("API McTestface"));
    assert_eq!(r.data[0].timezone.as_deref(), Some("America/Los_Angeles"));
    assert_eq!(
        r.data[0].updated_at,
        Some(Utc.with_ymd_and_hms(2017, 7, 6, 16, 51, 4).unwrap())
    );
    assert_eq!(r.next_cursor, None);
    assert_eq!(r.request_params["account_ids"][0], "18ce54d4x5t");

    let r = env::<Vec<Account>>("python-sdk__accounts_all.json");
    assert_eq!(r.data.len(), 5);
    assert_eq!(r.total_count, Some(5));

    let deleted = env::<Account>("docs-x__accounts_delete_sandbox.json").data;
    assert!(deleted.deleted);
    assert_eq!(deleted.timezone_switch_at, None);
}

#[test]
fn funding_instruments_carry_currency_and_micros() {
    let r = env::<Vec<FundingInstrument>>("docs-x__funding_instruments_get_all.json");
    let fi = &r.data[0];
    assert_eq!(fi.id, "lygyi");
    assert_eq!(fi.currency.as_deref(), Some("USD"));
    assert_eq!(fi.kind.as_deref(), Some("CREDIT_CARD"));
    assert_eq!(fi.credit_limit_local_micro, Some(200_000_000));
    assert_eq!(fi.entity_status, Some(EntityStatus::Active));

    // The oldest shape has paused/cancelled and no entity_status.
    let old = env::<FundingInstrument>("python-sdk__funding_instruments_load.json").data;
    assert_eq!(old.entity_status, None);
    assert_eq!(old.paused, Some(false));
    assert_eq!(old.funded_amount_local_micro, Some(5_000_000_000));
}

#[test]
fn campaigns_v12_and_older_shapes() {
    let r = env::<Vec<Campaign>>("docs-x__campaigns_get_all.json");
    let c = &r.data[0];
    assert_eq!(c.id, "8wku2");
    assert_eq!(c.name.as_deref(), Some("test"));
    assert_eq!(c.entity_status, Some(EntityStatus::Paused));
    assert_eq!(c.daily_budget_amount_local_micro, Some(10_000_000));
    assert_eq!(c.total_budget_amount_local_micro, None);
    assert_eq!(c.currency.as_deref(), Some("USD"));
    assert_eq!(c.funding_instrument_id.as_deref(), Some("lygyi"));
    assert_eq!(
        c.reasons_not_servable,
        vec!["PAUSED_BY_ADVERTISER", "INCOMPLETE"]
    );
    assert_eq!(c.start_time, None);

    let post = env::<Campaign>("docs-x__campaigns_post.json");
    assert_eq!(post.data.id, "hwtbm");
    assert_eq!(
        post.request_params["daily_budget_amount_local_micro"],
        140_000_000
    );
    assert!(
        env::<Campaign>("docs-x__campaigns_delete.json")
            .data
            .deleted
    );

    let old = env::<Vec<Campaign>>("python-sdk__campaigns_all.json");
    assert_eq!(old.data.len(), 10);
    assert_eq!(old.total_count, Some(10));
    assert_eq!(
        old.data[0].start_time,
        Some(Utc.with_ymd_and_hms(2015, 8, 12, 20, 26, 23).unwrap())
    );
    assert_eq!(old.data[1].entity_status, Some(EntityStatus::Paused));
    assert_eq!(old.data[3].total_budget_amount_local_micro, Some(1_000_000));
}

#[test]
fn line_items_new_and_pre_v10_names() {
    let li = env::<LineItem>("docs-x__line_items_get_one.json").data;
    assert_eq!(li.id, "itttx");
    assert_eq!(li.campaign_id.as_deref(), Some("f4z6x"));
    assert_eq!(li.bid_strategy.as_deref(), Some("MAX"));
    assert_eq!(li.pay_by.as_deref(), Some("ENGAGEMENT"));
    assert_eq!(li.goal.as_deref(), Some("ENGAGEMENT"));
    assert_eq!(li.bid_amount_local_micro, Some(320_000));
    assert_eq!(li.placements, vec!["ALL_ON_TWITTER"]);
    assert_eq!(
        li.start_time,
        Some(Utc.with_ymd_and_hms(2021, 2, 16, 0, 0, 0).unwrap())
    );
    assert_eq!(li.end_time, None);
    assert_eq!(li.entity_status, Some(EntityStatus::Paused));

    let old = env::<LineItem>("ruby-sdk__line_items_load.json").data;
    assert_eq!(old.bid_strategy, None);
    assert_eq!(old.bid_type.as_deref(), Some("MAX"));
    assert_eq!(old.charge_by.as_deref(), Some("ENGAGEMENT"));
    assert_eq!(old.entity_status, Some(EntityStatus::Active));
}

#[test]
fn promoted_tweets_post_returns_an_array_and_numeric_echoes_stay_untyped() {
    let r = env::<Vec<PromotedTweet>>("docs-x__promoted_tweets_post.json");
    assert_eq!(r.data.len(), 1);
    assert_eq!(r.data[0].id, "1e8i2k");
    assert_eq!(r.data[0].tweet_id.as_deref(), Some("822333526255120384"));
    assert_eq!(r.total_count, Some(1));
    // X echoes tweet_ids as numbers; we keep the echo as raw JSON.
    assert!(r.request_params["tweet_ids"][0].is_number());

    let all = env::<Vec<PromotedTweet>>("python-sdk__promoted_tweets_all.json");
    assert_eq!(all.data.len(), 20);
    assert_eq!(all.total_count, Some(20));
    let deleted = env::<PromotedTweet>("docs-x__promoted_tweets_delete.json").data;
    assert!(deleted.deleted);
    assert_eq!(deleted.line_item_id.as_deref(), Some("9pl99"));
}

#[test]
fn media_library_entries_and_cursor() {
    let r = env::<Vec<MediaLibraryEntry>>("docs-x__media_library_get_all.json");
    assert_eq!(r.next_cursor.as_deref(), Some("c-1"));
    assert_eq!(r.data[0].media_key, "3_908573900237180928");
    let v = env::<MediaLibraryEntry>("docs-x__media_library_get_one.json").data;
    assert_eq!(v.media_category.as_deref(), Some("AMPLIFY_VIDEO"));
    assert_eq!(v.duration, Some(39973));
    assert_eq!(v.poster_media_key.as_deref(), Some("3_909110614026444802"));
    // Duplicate "media_key" in X's guide example: the last one wins, and parsing does not fail.
    let guide = env::<MediaLibraryEntry>("docs-x__media_library_post_guide_response.json");
    assert_eq!(guide.data.media_key, "966947208837742592");
    assert_eq!(guide.data.name.as_deref(), Some("Latte"));
    assert!(guide.request_params["media_key"].is_number());
}

#[test]
fn stats_series_values_and_nulls() {
    let s = whole::<StatsResponse>("docs-x__stats_sync_get_response.json");
    assert_eq!(s.data.time_series_length, Some(1));
    let m = &s.data.data[0].id_data[0].metrics;
    assert_eq!(s.data.data[0].id, "8u94t");
    assert_eq!(m.count_series("impressions"), Some(vec![Some(1233)]));
    assert_eq!(m.count_series("clicks"), Some(vec![Some(58)]));
    assert_eq!(m.count_series("retweets"), None);
    assert!(m.has("retweets"));
    assert_eq!(s.request_params["granularity"], "TOTAL");

    let s = whole::<StatsResponse>("twitter-ads-cr__v12_stats_accounts_line_item_entity.json").data;
    assert_eq!(s.time_series_length, Some(2));
    let first = &s.data[0].id_data[0].metrics;
    assert_eq!(
        first.count_series("impressions"),
        Some(vec![Some(71710), Some(56602)])
    );
    assert_eq!(first.total("clicks"), Some(1120));
    assert_eq!(first.count_series("follows"), None);
    let second = &s.data[1];
    assert_eq!(second.id, "aaaa2");
    assert_eq!(
        second.id_data[0].metrics.count_series("follows"),
        Some(vec![Some(0), Some(1)])
    );
    assert!(second.id_data[0].segment.is_none());
}

#[test]
fn active_entities() {
    let r = env::<Vec<ActiveEntity>>("docs-x__active_entities_get_response.json");
    assert_eq!(r.data.len(), 4);
    assert_eq!(r.data[1].entity_id, "2mvb29");
    assert_eq!(
        r.data[1].placements,
        vec!["ALL_ON_TWITTER", "PUBLISHER_NETWORK"]
    );
    assert_eq!(
        r.data[0].activity_start_time,
        Utc.with_ymd_and_hms(2026, 2, 28, 1, 30, 7).unwrap()
    );
}

#[test]
fn v2_media_upload_init_and_finalize() {
    let init = env::<MediaUpload>("docs-x__x-api-v2_media_upload_init_response.json").data;
    assert_eq!(init.id, "1880028106020515840");
    assert_eq!(init.media_key.as_deref(), Some("13_1880028106020515840"));
    assert_eq!(init.expires_after_secs, Some(1_295_999));
    assert!(init.processing_info.is_none());
    let fin = env::<MediaUpload>("docs-x__x-api-v2_media_upload_finalize_response.json").data;
    let info = fin.processing_info.unwrap();
    assert_eq!(info.state, ProcessingState::Pending);
    assert_eq!(info.check_after_secs, Some(1));
    assert!(!info.is_final());
    assert_eq!(fin.size, Some(1_048_576));
}

#[test]
fn documented_error_envelope() {
    let e = decode_error("stats", &raw("docs-x__error_invalid_parameter.json", 400));
    let XError::Api { errors, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(errors[0].parameter.as_deref(), Some("start_time"));
    assert_eq!(errors[0].details.as_deref(), Some("invalid date"));
    assert_eq!(e.first_code().as_deref(), Some("INVALID_PARAMETER"));
    assert_eq!(
        e.to_string(),
        "X Ads stats: 400 — Expected time, got \"\" for start_time"
    );
}

#[test]
fn targeting_criteria() {
    let r = env::<Vec<TargetingCriterion>>("docs-x__targeting_criteria_get_all.json");
    assert_eq!(r.data[0].id, "dpl3a6");
    assert_eq!(r.data[0].line_item_id.as_deref(), Some("8u94t"));
    assert_eq!(r.data[0].targeting_type.as_deref(), Some("CUSTOM_AUDIENCE"));
    assert_eq!(r.data[0].operator_type.as_deref(), Some("EQ"));
    let post = env::<TargetingCriterion>("docs-x__targeting_criteria_post.json").data;
    assert_eq!(post.targeting_value.as_deref(), Some("technology"));
    assert_eq!(post.targeting_type.as_deref(), Some("BROAD_KEYWORD"));
}
