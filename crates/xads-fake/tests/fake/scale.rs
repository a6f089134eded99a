//! The benchmark-sized world: 750 entities in one account stay listable and queryable.

use xads_fake::FakeConfig;

use crate::support::{T, config};

#[tokio::test]
async fn a_750_entity_account_lists_and_reports() {
    let t = T::with(FakeConfig {
        campaigns_per_account: 150,
        line_items_per_campaign: 2,
        promoted_tweets_per_line_item: 1,
        history_days: 100,
        ..config()
    })
    .await;
    let acct = t.usd();
    let c = t.fake.counts(&acct);
    assert_eq!(c.campaigns + c.line_items + c.promoted_tweets, 750);
    let started = std::time::Instant::now();
    let list = t
        .get(
            &format!("/12/accounts/{acct}/campaigns"),
            &[("count", "1000")],
        )
        .await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 150);
    let ae = t
        .get(
            &format!("/12/stats/accounts/{acct}/active_entities"),
            &[
                ("entity", "LINE_ITEM"),
                ("start_time", "2026-02-20T00:00:00Z"),
                ("end_time", "2026-05-20T00:00:00Z"),
            ],
        )
        .await;
    assert_eq!(ae.status, 200);
    let active = ae.body["data"].as_array().unwrap().len();
    assert!(active > 0 && active < 300, "{active}");
    let ids: Vec<String> = t.fake.campaigns(&acct)[..20]
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let ids = ids.join(",");
    let stats = t
        .get(
            &format!("/12/stats/accounts/{acct}"),
            &[
                ("entity", "CAMPAIGN"),
                ("entity_ids", &ids),
                ("start_time", "2026-05-13T00:00:00Z"),
                ("end_time", "2026-05-20T00:00:00Z"),
                ("granularity", "HOUR"),
                ("placement", "ALL_ON_TWITTER"),
                ("metric_groups", "ENGAGEMENT,BILLING"),
            ],
        )
        .await;
    assert_eq!(stats.body["data"].as_array().unwrap().len(), 20);
    eprintln!("scale calls took {:?}", started.elapsed());
}
