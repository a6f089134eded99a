//! Breakdowns (issue 18, item 3; PRODUCT.md §4.10, §5.1) on both backends: a PLATFORMS job run
//! against the fake with the client, its rows stored through `sync::ingest::segment_rows` and
//! `store::segments::upsert`, then read back: every stored segment hour is the fake's generator
//! split (`split_hour` of each serving line item), `GET …/stats?segment=` answers those numbers
//! by local day and in total (JSON and CSV), the segments add up to the unsegmented rows, and
//! segment rows never appear in an unsegmented read.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use xads::store::{fx_rates, segments, stats, tenants};
use xads::sync::ingest;
use xads::x::XSession;
use xads_client::models::{JobListQuery, JobResultRow, JobStatus, StatsJobQuery, StatsQuery};
use xads_client::vocab::{
    COLUMNS, Granularity, MetricGroup, Placement, SegmentationType, StatsEntityType,
};
use xads_fake::{HourMetrics, segments_of, split_hour};

use crate::reporting::{Ctx, connected, fake_config, served_line_item_hours};

/// Creates `query` as a job of `account` at the fake, polls it to `SUCCESS` and reads its
/// result file, as the client hands it over.
async fn run_job(
    c: &Ctx,
    tenant_id: &str,
    account: &str,
    query: StatsJobQuery,
) -> Vec<JobResultRow> {
    let session = XSession::for_tenant(&c.app.state, tenant_id).await.unwrap();
    let created = session
        .call(|x| {
            let q = query.clone();
            async move { x.create_stats_job(account, &q).await }
        })
        .await
        .unwrap();
    let id = created.response.data.id;
    let mut url = None;
    for _ in 0..20 {
        let polled = session
            .call(|x| {
                let q = JobListQuery::ids([id.clone()]);
                async move { x.stats_jobs(account, &q).await }
            })
            .await
            .unwrap();
        let job = &polled.response.data[0];
        if job.status == JobStatus::Success {
            url = job.url.clone();
            break;
        }
        assert!(job.status.is_pending(), "{:?}", job.status);
    }
    let url = url.expect("the job finished");
    let (rows, info) = session
        .call(|x| {
            let url = url.clone();
            async move { x.download_stats_job(&url).await?.collect().await }
        })
        .await
        .unwrap();
    assert_eq!(info.rows, rows.len() as u64);
    rows
}

/// A row's metrics; a nullable column's null (installs not asked: this world is web-only) as 0.
fn metrics_of(row: &Value) -> [i64; COLUMNS.len()] {
    std::array::from_fn(|i| {
        let v = &row[COLUMNS[i].name];
        v.as_i64()
            .or_else(|| (COLUMNS[i].nullable && v.is_null()).then_some(0))
            .unwrap_or_else(|| panic!("{} in {row}", COLUMNS[i].name))
    })
}

fn values_of(m: &HourMetrics) -> [i64; COLUMNS.len()] {
    let by_name = |name: &str| -> i64 {
        match name {
            "impressions" => m.impressions as i64,
            "clicks" => m.clicks as i64,
            "engagements" => m.engagements as i64,
            "retweets" => m.retweets as i64,
            "likes" => m.likes as i64,
            "replies" => m.replies as i64,
            "follows" => m.follows as i64,
            "billed_engagements" => m.billed_engagements as i64,
            "conversions" => m.conversions as i64,
            // This world is web-only: installs are never asked (stored null, read as 0 here).
            "installs" => 0,
            "spend_local_micro" => m.billed_charge_local_micro,
            other => panic!("the fake has no {other}"),
        }
    };
    std::array::from_fn(|i| by_name(COLUMNS[i].name))
}

fn add(a: &mut [i64; COLUMNS.len()], b: [i64; COLUMNS.len()]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

fn usd(row: &Value) -> i64 {
    // USD rows convert at 1: spend_usd is the spend to 6 places, i.e. its micros.
    row["spend_usd"]
        .as_str()
        .unwrap_or_else(|| panic!("spend_usd in {row}"))
        .replace('.', "")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn platform_breakdowns_are_the_fakes_split_add_up_and_stay_out_of_totals() {
    for db in xads::testing::all_backend_urls().await {
        let c = connected(&db, fake_config()).await;
        let seed = c.seed();
        let account = seed.usd_account_id.clone();
        let state = &c.app.state;
        let tenant = tenants::by_api_key(&state.db, &c.key)
            .await
            .unwrap()
            .unwrap();
        // The unsegmented rows of the last 7 days, by the hourly sync.
        c.sync(&account, json!({})).await;

        // Three local days of the account (America/Los_Angeles, UTC-8 in November).
        let from = DateTime::parse_from_rfc3339("2024-11-17T08:00:00Z")
            .unwrap()
            .to_utc();
        let to = from + Duration::days(3);
        let window = "from=2024-11-17&to=2024-11-19";
        let plain_day = c
            .stats(
                &account,
                &format!("entity=campaign&granularity=day&{window}"),
            )
            .await;
        let plain_total = c
            .stats(
                &account,
                &format!("entity=campaign&granularity=total&{window}"),
            )
            .await;
        assert!(!plain_day.is_empty());

        let campaigns: Vec<String> = seed
            .accounts
            .iter()
            .find(|a| a.id == account)
            .unwrap()
            .campaign_ids
            .clone();
        assert!(campaigns.len() <= 20, "one job");
        let job = StatsJobQuery::new(StatsQuery {
            entity: StatsEntityType::Campaign,
            entity_ids: campaigns.clone(),
            start_time: from,
            end_time: to,
            granularity: Granularity::Hour,
            placement: Placement::AllOnTwitter,
            metric_groups: vec![
                MetricGroup::Engagement,
                MetricGroup::Billing,
                MetricGroup::WebConversion,
            ],
        })
        .segmented(SegmentationType::Platforms);
        let results = run_job(&c, &tenant.id, &account, job).await;
        let currencies = stats::entity_currencies(&state.db, &tenant.id, &account)
            .await
            .unwrap();
        let call = ingest::Call {
            account_id: &account,
            entity: StatsEntityType::Campaign,
            placement: Placement::AllOnTwitter,
            start: from,
            currencies: &currencies,
            fallback: "USD",
        };
        let mut rows: Vec<segments::SegmentRow> = results
            .iter()
            .flat_map(|r| ingest::segment_rows(&call, SegmentationType::Platforms, r))
            .collect();
        let rates = fx_rates::series_for(&state.db, &tenant.id, &["USD".to_owned()])
            .await
            .unwrap();
        ingest::convert(rows.iter_mut().map(|s| &mut s.row), &rates);
        assert!(rows.len() > 50, "the seeded world delivers: {}", rows.len());
        let written = segments::upsert(&state.db, &tenant.id, &rows, state.clock.now())
            .await
            .unwrap();
        assert_eq!(written, rows.len());

        // What the fake's generator says, per campaign, segment and hour.
        let names: Vec<String> = segments_of(
            c.app.fake.state().config().seed,
            &account,
            "PLATFORMS",
            None,
        )
        .into_iter()
        .map(|s| s.name)
        .collect();
        let mut expected: BTreeMap<(String, String, DateTime<Utc>), [i64; COLUMNS.len()]> =
            BTreeMap::new();
        for (campaign, li, h, m) in
            served_line_item_hours(&c.app.fake, &account, from, to, &Default::default())
        {
            let parts = split_hour(
                c.app.fake.state().config().seed,
                &li,
                h,
                "PLATFORMS",
                m,
                names.len(),
            );
            for (name, part) in names.iter().zip(parts) {
                add(
                    expected
                        .entry((campaign.clone(), name.clone(), h))
                        .or_insert([0; COLUMNS.len()]),
                    values_of(&part),
                );
            }
        }
        expected.retain(|_, v| v.iter().any(|x| *x != 0));
        let stored = segments::query(
            &state.db,
            &tenant.id,
            &account,
            StatsEntityType::Campaign,
            SegmentationType::Platforms,
            from,
            to,
        )
        .await
        .unwrap();
        let got: BTreeMap<(String, String, DateTime<Utc>), [i64; COLUMNS.len()]> = stored
            .iter()
            .map(|s| {
                (
                    (s.row.entity_id.clone(), s.segment_name.clone(), s.row.hour),
                    s.row.values.map(|v| v.unwrap_or(0)),
                )
            })
            .collect();
        assert_eq!(got.len(), stored.len());
        assert_eq!(
            got, expected,
            "{db}: every segment hour is the generator's split"
        );
        assert!(
            stored
                .iter()
                .all(|s| s.row.fx.is_some() && s.row.currency == "USD")
        );

        // By local day through the API: the stored hours summed, with the segment.
        let by_day = c
            .stats(
                &account,
                &format!("entity=campaign&granularity=day&segment=platforms&{window}"),
            )
            .await;
        let mut per_day: BTreeMap<(String, String, String), [i64; COLUMNS.len()]> = BTreeMap::new();
        for ((campaign, name, h), v) in &expected {
            let date = (*h - Duration::hours(8)).date_naive().to_string();
            add(
                per_day
                    .entry((campaign.clone(), name.clone(), date))
                    .or_insert([0; COLUMNS.len()]),
                *v,
            );
        }
        assert_eq!(by_day.len(), per_day.len(), "{db}");
        let mut summed: BTreeMap<(String, String), ([i64; COLUMNS.len()], i64)> = BTreeMap::new();
        for r in &by_day {
            assert_eq!(r["segment_type"], "PLATFORMS", "{r}");
            assert_eq!(r["entity"], "CAMPAIGN");
            let key = (
                r["entity_id"].as_str().unwrap().to_owned(),
                r["segment_name"].as_str().unwrap().to_owned(),
                r["date"].as_str().unwrap().to_owned(),
            );
            assert_eq!(metrics_of(r), per_day[&key], "{key:?}");
            assert!(["0", "1", "4"].contains(&r["segment_value"].as_str().unwrap()));
            assert_eq!(usd(r), r["spend_local_micro"].as_i64().unwrap(), "{r}");
            let e = summed
                .entry((key.0, key.2))
                .or_insert(([0; COLUMNS.len()], 0));
            add(&mut e.0, metrics_of(r));
            e.1 += usd(r);
        }
        // The segments of a day add up to the day's unsegmented row (X: PLATFORMS partitions).
        assert_eq!(summed.len(), plain_day.len(), "{db}");
        for r in &plain_day {
            assert!(r.get("segment_type").is_none(), "{r}");
            let key = (
                r["entity_id"].as_str().unwrap().to_owned(),
                r["date"].as_str().unwrap().to_owned(),
            );
            assert_eq!(summed[&key], (metrics_of(r), usd(r)), "{key:?}");
        }

        // Only the ids asked for (bound after the segmentation).
        let one = &campaigns[0];
        let only = c
            .stats(
                &account,
                &format!("entity=campaign&granularity=day&segment=PLATFORMS&ids={one}&{window}"),
            )
            .await;
        assert!(!only.is_empty());
        assert_eq!(
            only,
            by_day
                .iter()
                .filter(|r| r["entity_id"] == one.as_str())
                .cloned()
                .collect::<Vec<_>>()
        );

        // In total, the same.
        let total = c
            .stats(
                &account,
                &format!("entity=campaign&granularity=total&segment=PLATFORMS&{window}"),
            )
            .await;
        for r in &plain_total {
            let mut sum = [0; COLUMNS.len()];
            for s in total.iter().filter(|s| s["entity_id"] == r["entity_id"]) {
                add(&mut sum, metrics_of(s));
            }
            assert_eq!(sum, metrics_of(r), "{r}");
        }

        // Unsegmented reads are what they were: no segment row in them or in their totals.
        assert_eq!(
            c.stats(
                &account,
                &format!("entity=campaign&granularity=day&{window}")
            )
            .await,
            plain_day
        );
        assert_eq!(
            c.stats(
                &account,
                &format!("entity=campaign&granularity=total&{window}")
            )
            .await,
            plain_total
        );

        // CSV: the segment columns after the placement, a line per row.
        let resp = c
            .app
            .http
            .get(format!(
                "{}/api/v1/x_ads/accounts/{account}/stats?entity=campaign&granularity=day&segment=PLATFORMS&{window}",
                c.app.base
            ))
            .bearer_auth(&c.key)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let csv = resp.text().await.unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(
            header[..9],
            [
                "date",
                "entity",
                "entity_id",
                "entity_name",
                "start",
                "placement",
                "segment_type",
                "segment_name",
                "segment_value"
            ]
        );
        let body: Vec<&str> = lines.collect();
        assert_eq!(body.len(), by_day.len());
        assert!(body.iter().all(|l| l.contains(",PLATFORMS,")));

        // Refusals name their field.
        for (q, field) in [
            ("segment=DEVICES", "segment"),
            ("segment=PLATFORMS&granularity=hour", "granularity"),
        ] {
            let (status, body) = c
                .app
                .get(
                    &c.key,
                    &format!("/api/v1/x_ads/accounts/{account}/stats?{q}"),
                )
                .await;
            assert_eq!(status, 422, "{q}: {body}");
            assert_eq!(body["error"]["field"], field, "{body}");
        }
        // Without a granularity, a segmented read is by day.
        let (status, body) = c
            .app
            .get(
                &c.key,
                &format!("/api/v1/x_ads/accounts/{account}/stats?segment=PLATFORMS&{window}"),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["granularity"], "day");
        assert_eq!(body["data"].as_array().unwrap().len(), by_day.len());
    }
}

/// `n` JPY segment rows of `tenant` with no rate yet (¥1 000 each): three platforms per hour of
/// a few campaigns, from 2026-03-01.
async fn jpy_segment_rows(db: &xads::db::Db, tenant: &str, n: usize) {
    use xads::store::stats::{SPEND_LOCAL_MICRO, StatRow};
    let start = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let platforms = [("iOS", "0"), ("Android", "1"), ("Desktop", "4")];
    let rows: Vec<segments::SegmentRow> = (0..n)
        .map(|i| {
            let mut values = [Some(0i64); COLUMNS.len()];
            values[SPEND_LOCAL_MICRO] = Some(1_000_000_000);
            let (name, value) = platforms[i % 3];
            segments::SegmentRow {
                segment_type: SegmentationType::Platforms,
                segment_name: name.into(),
                segment_value: value.into(),
                row: StatRow {
                    account_id: "jpy_acct".into(),
                    entity: StatsEntityType::Campaign,
                    entity_id: format!("c{}", (i / 3) % 5),
                    hour: start + Duration::hours((i / 15) as i64),
                    placement: Placement::AllOnTwitter,
                    values,
                    currency: "JPY".into(),
                    fx: None,
                },
            }
        })
        .collect();
    segments::upsert(db, tenant, &rows, Utc::now())
        .await
        .unwrap();
}

async fn segment_usd(db: &xads::db::Db, tenant: &str) -> Vec<Option<String>> {
    segments::query(
        db,
        tenant,
        "jpy_acct",
        StatsEntityType::Campaign,
        SegmentationType::Platforms,
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc(),
        DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
            .unwrap()
            .to_utc(),
    )
    .await
    .unwrap()
    .into_iter()
    .map(|s| s.row.fx.map(|f| f.spend_usd.to_string()))
    .collect()
}

/// A rate that arrives after segment rows were stored converts them as it does unsegmented
/// rows: a tenant's own rate only that tenant's (paged, more rows than one step), a global
/// import every tenant's, a tenant with segment rows alone included.
#[tokio::test]
async fn a_later_rate_reconverts_segment_rows_of_its_tenants_only() {
    use xads::store::stats::RECONVERT_CHUNK;
    for db_url in xads::testing::all_backend_urls().await {
        let app = crate::helpers::TestApp::spawn(&db_url, xads_fake::FakeConfig::default()).await;
        let db = &app.state.db;
        let (a, a_key) = tenants::create(db, "A", Utc::now()).await.unwrap();
        let (b, _) = tenants::create(db, "B", Utc::now()).await.unwrap();
        let n = RECONVERT_CHUNK * 2 + 45;
        jpy_segment_rows(db, &a.id, n).await;
        jpy_segment_rows(db, &b.id, 30).await;
        assert!(segment_usd(db, &a.id).await.iter().all(Option::is_none));

        let (status, body) = app
            .send(
                reqwest::Method::POST,
                &a_key.0,
                "/api/v1/fx_rates",
                Some(json!({"date": "2026-02-27", "currency": "JPY", "usd_per_unit": "0.0125"})),
            )
            .await;
        assert_eq!(status, 201, "{db_url}: {body}");
        assert_eq!(body["rows_reconverted"], n as u64, "{db_url}: {body}");
        let a_usd = segment_usd(db, &a.id).await;
        assert_eq!(a_usd.len(), n);
        assert!(
            a_usd.iter().all(|u| u.as_deref() == Some("12.500000")),
            "{db_url}"
        );
        assert!(
            segment_usd(db, &b.id).await.iter().all(Option::is_none),
            "{db_url}: B's rows are not A's to convert"
        );

        // A global rate (ECB, CSV, the CLI) converts B's too; A keeps its own override.
        let rate = xads::fx::Rate {
            currency: "JPY".into(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 2, 27).unwrap(),
            usd_per_unit: "0.0066".parse().unwrap(),
            source: xads::fx::Source::Csv,
        };
        let (_, rows) = xads::sync::import_global_rates(db, &[rate], Utc::now())
            .await
            .unwrap();
        assert_eq!(rows, 30, "{db_url}");
        assert!(
            segment_usd(db, &b.id)
                .await
                .iter()
                .all(|u| u.as_deref() == Some("6.600000")),
            "{db_url}"
        );
        assert_eq!(segment_usd(db, &a.id).await, a_usd, "{db_url}");
    }
}
