//! Asynchronous analytics jobs: X's fixtures parse, the calls go on the wire as X wants them,
//! the concurrency headers reach the caller, and result files stream in gzipped or plain.

use std::io::Write;

use chrono::{Duration, TimeZone, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use xads_client::envelope::{decode_envelope, decode_whole};
use xads_client::models::{
    Granularity, JobListQuery, JobStatus, MetricGroup, Placement, StatsEntityType, StatsJob,
    StatsJobQuery, StatsQuery, StatsResponse,
};
use xads_client::result_file::read_result;
use xads_client::vocab::SegmentationType;
use xads_client::{RetryPolicy, XError};

use crate::fixtures::{dir, raw};
use crate::stub::{Reply, Stub};

const JOB: &str = "docs-x__stats_jobs_post_response.json";

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn query() -> StatsJobQuery {
    let start = Utc.with_ymd_and_hms(2026, 3, 12, 0, 0, 0).unwrap();
    StatsJobQuery::new(StatsQuery {
        entity: StatsEntityType::LineItem,
        entity_ids: vec!["el32n".into()],
        start_time: start,
        end_time: start + Duration::days(8),
        granularity: Granularity::Total,
        placement: Placement::AllOnTwitter,
        metric_groups: vec![MetricGroup::Engagement],
    })
}

#[test]
fn x_job_fixtures_parse_with_their_ids_statuses_and_urls() {
    let post = decode_envelope::<StatsJob>("f", raw(JOB, 200))
        .unwrap()
        .data;
    assert_eq!(post.id, "1120829647711653888");
    assert_eq!(post.status, JobStatus::Processing);
    assert_eq!(post.url, None);
    assert_eq!(post.account_id.as_deref(), Some("18ce54d4x5t"));
    assert_eq!(post.entity, Some(StatsEntityType::LineItem));
    assert_eq!(post.entity_ids, ["el32n"]);
    assert_eq!(post.metric_groups, [MetricGroup::Engagement]);
    assert_eq!(post.segmentation_type, None);
    assert_eq!(
        post.start_time,
        Some(Utc.with_ymd_and_hms(2026, 3, 12, 0, 0, 0).unwrap())
    );

    let get =
        decode_envelope::<Vec<StatsJob>>("f", raw("docs-x__stats_jobs_get_response.json", 200))
            .unwrap();
    assert_eq!(get.next_cursor.as_deref(), Some("1120828505715920896"));
    let done = &get.data[0];
    assert_eq!(done.status, JobStatus::Success);
    assert_eq!(
        done.url.as_deref(),
        Some(
            "https://ton.twimg.com/advertiser-api-async-analytics/stats_job_1120829647711653888.json.gz"
        )
    );
    assert_eq!(
        done.expires_at,
        Some(Utc.with_ymd_and_hms(2026, 4, 3, 23, 19, 48).unwrap())
    );

    // The SDK's fixtures carry `id` twice (a string, then a number) and no id_str.
    for name in [
        "python-sdk__analytics_async_post.json",
        "python-sdk__analytics_async_get.json",
    ] {
        let v: serde_json::Value =
            serde_json::from_str(&fixture_text(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let job = match &v["data"] {
            serde_json::Value::Array(items) => {
                serde_json::from_value::<StatsJob>(items[0].clone()).unwrap()
            }
            one => serde_json::from_value::<StatsJob>(one.clone()).unwrap(),
        };
        assert_eq!(job.id, "111111111111111111", "{name}");
        assert_eq!(job.entity, Some(StatsEntityType::Campaign), "{name}");
        // Straight from the text too, not only through a map.
        let text = fixture_text(name);
        let data_at = text.find("\"data\"").unwrap();
        let obj_at = data_at + text[data_at..].find('{').unwrap();
        let mut de = serde_json::Deserializer::from_str(&text[obj_at..]);
        let direct = <StatsJob as serde::Deserialize>::deserialize(&mut de).unwrap();
        assert_eq!(direct.id, "111111111111111111", "{name}");
    }

    let cancelled =
        decode_envelope::<StatsJob>("f", raw("community__stats_jobs_delete_v1.json", 200))
            .unwrap()
            .data;
    assert_eq!(cancelled.id, "823634888955809793");
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(cancelled.segmentation_type, Some(SegmentationType::Age));
    assert_eq!(cancelled.granularity, Some(Granularity::Day));
}

#[test]
fn x_result_file_streams_into_the_same_rows_as_the_whole_parse() {
    let name = "docs-x__stats_jobs_result_file_unzipped.json";
    let text = fixture_text(name);
    let whole = decode_whole::<StatsResponse>("f", raw(name, 200))
        .unwrap()
        .data;
    for bytes in [text.as_bytes().to_vec(), gz(text.as_bytes())] {
        let mut rows = Vec::new();
        let info = read_result(&bytes[..], |r| {
            rows.push(r);
            true
        })
        .unwrap();
        assert_eq!(info.time_series_length, Some(1));
        assert_eq!(info.data_type.as_deref(), Some("stats"));
        assert_eq!(info.request_params["entity"], "LINE_ITEM");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].entity_id, whole.data[0].id);
        assert_eq!(rows[0].segment, None);
        assert_eq!(rows[0].metrics, whole.data[0].id_data[0].metrics);
        assert_eq!(rows[0].metrics.total("impressions"), Some(3482));
        assert_eq!(rows[0].metrics.count_series("follows"), None);
    }
}

#[tokio::test]
async fn create_poll_cancel_on_the_wire_with_the_concurrency_headers() {
    let post = fixture_text(JOB);
    let get = fixture_text("docs-x__stats_jobs_get_response.json");
    let del = fixture_text("community__stats_jobs_delete_v1.json");
    let stub = Stub::start(vec![
        Reply::json(200, &post)
            .header("x-concurrent-job-limit", 100)
            .header("x-concurrent-job-limit-remaining", 99),
        Reply::json(200, &get)
            .header("X-Concurrent-Job-Limit", 100)
            .header("X-Concurrent-Job-Limit-Remaining", 98),
        Reply::json(200, &del),
    ])
    .await;
    let x = stub.ads(RetryPolicy::none());
    let q = query()
        .segmented(SegmentationType::Metros)
        .country("96683cc9126741d1");
    let created = x.create_stats_job("18ce54d4x5t", &q).await.unwrap();
    assert_eq!(created.response.data.status, JobStatus::Processing);
    assert_eq!(created.job_limit.limit, Some(100));
    assert_eq!(created.job_limit.remaining, Some(99));

    let polled = x
        .stats_jobs(
            "18ce54d4x5t",
            &JobListQuery {
                job_ids: vec!["1120829647711653888".into(), "2".into()],
                count: Some(50),
                cursor: Some("c-1".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(polled.job_limit.remaining, Some(98));
    assert_eq!(
        polled.response.next_cursor.as_deref(),
        Some("1120828505715920896")
    );
    assert_eq!(polled.response.data[0].status, JobStatus::Success);

    let cancelled = x
        .cancel_stats_job("18ce54d4x5t", "823634888955809793")
        .await
        .unwrap();
    assert_eq!(cancelled.response.data.status, JobStatus::Cancelled);
    assert_eq!(
        cancelled.job_limit,
        Default::default(),
        "no headers, no values"
    );

    let reqs = stub.requests();
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/12/stats/jobs/accounts/18ce54d4x5t");
    let p = reqs[0].params();
    assert_eq!(p["segmentation_type"], "METROS");
    assert_eq!(p["country"], "96683cc9126741d1");
    assert_eq!(p["entity"], "LINE_ITEM");
    assert_eq!(p["start_time"], "2026-03-12T00:00:00Z");
    assert_eq!(p["end_time"], "2026-03-20T00:00:00Z");
    assert!(reqs[0].header("authorization").is_some());
    assert_eq!(reqs[1].method, "GET");
    assert_eq!(reqs[1].path, "/12/stats/jobs/accounts/18ce54d4x5t");
    let p = reqs[1].params();
    assert_eq!(p["job_ids"], "1120829647711653888,2");
    assert_eq!(p["count"], "50");
    assert_eq!(p["cursor"], "c-1");
    assert_eq!(reqs[2].method, "DELETE");
    assert_eq!(
        reqs[2].path,
        "/12/stats/jobs/accounts/18ce54d4x5t/823634888955809793"
    );
}

#[tokio::test]
async fn jobs_breaking_x_rules_are_not_sent() {
    let stub = Stub::start(vec![]).await;
    let x = stub.ads(RetryPolicy::none());
    let mut long = query();
    long.stats.end_time = long.stats.start_time + Duration::days(46);
    for (q, why) in [
        (
            long.clone().segmented(SegmentationType::Platforms),
            "45 days",
        ),
        (query().segmented(SegmentationType::Metros), "country"),
        (
            query().segmented(SegmentationType::ConversionTags),
            "WEB_CONVERSION",
        ),
    ] {
        let e = x.create_stats_job("a", &q).await.unwrap_err();
        assert!(
            matches!(&e, XError::Invalid { message, .. } if message.contains(why)),
            "{e}"
        );
    }
    let e = x
        .stats_jobs("a", &JobListQuery::ids((0..201).map(|i| i.to_string())))
        .await
        .unwrap_err();
    assert!(matches!(e, XError::Invalid { .. }));
    assert!(stub.requests().is_empty());
}

fn segmented_file(entities: usize, segments: usize, hours: usize) -> String {
    let series: Vec<String> = (0..hours).map(|h| h.to_string()).collect();
    let series = format!("[{}]", series.join(","));
    let data: Vec<String> = (0..entities)
        .map(|e| {
            let id_data: Vec<String> = (0..segments)
                .map(|s| {
                    format!(
                        r#"{{"segment":{{"segment_name":"s{s}","segment_value":"{s}"}},"metrics":{{"impressions":{series},"clicks":null}}}}"#
                    )
                })
                .collect();
            format!(r#"{{"id":"e{e}","id_data":[{}]}}"#, id_data.join(","))
        })
        .collect();
    format!(
        r#"{{"data_type":"stats","time_series_length":{hours},"data":[{}],"request":{{"params":{{}}}}}}"#,
        data.join(",")
    )
}

#[tokio::test]
async fn download_streams_gzipped_and_plain_files_without_credentials() {
    let text = segmented_file(20, 3, 48);
    let stub = Stub::start(vec![
        Reply::Http {
            status: 200,
            headers: vec![("content-type".into(), "application/gzip".into())],
            body: gz(text.as_bytes()),
        },
        // Small results may come un-gzipped (and labelled as JSON).
        Reply::json(200, &text),
    ])
    .await;
    let x = stub.ads(RetryPolicy::none());
    let url = format!("{}/ton/stats_job_1.json.gz", stub.url);
    for gzipped in [true, false] {
        let mut result = x.download_stats_job(&url).await.unwrap();
        let mut rows = 0;
        while let Some(row) = result.next().await {
            let row = row.unwrap();
            assert_eq!(row.metrics.total("impressions"), Some((0..48).sum()));
            rows += 1;
        }
        let info = result.info().unwrap();
        assert_eq!(info.gzipped, gzipped);
        assert_eq!((info.entities, info.rows, rows), (20, 60, 60));
        assert_eq!(info.time_series_length, Some(48));
    }
    for req in stub.requests() {
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/ton/stats_job_1.json.gz");
        assert_eq!(
            req.header("authorization"),
            None,
            "no token to the file host"
        );
    }
}

#[tokio::test]
async fn a_gone_or_broken_file_is_an_error() {
    let text = segmented_file(2, 2, 4);
    let zipped = gz(text.as_bytes());
    let stub = Stub::start(vec![
        Reply::error(404, "NOT_FOUND", "expired"),
        Reply::Http {
            status: 200,
            headers: vec![],
            body: zipped[..zipped.len() - 12].to_vec(),
        },
        Reply::Http {
            status: 200,
            headers: vec![],
            body: b"<html>not json</html>".to_vec(),
        },
    ])
    .await;
    let x = stub.ads(RetryPolicy::none());
    let url = format!("{}/ton/x.json.gz", stub.url);
    let e = x.download_stats_job(&url).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    for _ in 0..2 {
        let e = x
            .download_stats_job(&url)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(
            matches!(e, XError::Transport { .. } | XError::Decode { .. }),
            "{e}"
        );
    }
    assert!(matches!(
        x.download_stats_job("file:///etc/passwd")
            .await
            .unwrap_err(),
        XError::Invalid { .. }
    ));
}

#[tokio::test]
async fn dropping_the_result_early_stops_the_read() {
    let text = segmented_file(50, 5, 200);
    let stub = Stub::start(vec![Reply::Http {
        status: 200,
        headers: vec![],
        body: gz(text.as_bytes()),
    }])
    .await;
    let x = stub.ads(RetryPolicy::none());
    let mut result = x
        .download_stats_job(&format!("{}/ton/big.json.gz", stub.url))
        .await
        .unwrap();
    let first = result.next().await.unwrap().unwrap();
    assert_eq!(first.entity_id, "e0");
    drop(result);
}

#[tokio::test]
async fn a_segmented_job_against_the_fake_streams_rows_that_sum_to_the_sync_numbers() {
    let fake = crate::against_fake::fake().await;
    let seed = fake.state().seed_info();
    let acc = seed.usd_account_id.clone();
    let x = crate::against_fake::bearer(&fake, RetryPolicy::default());
    let now = fake.state().now();
    let end = chrono::DurationRound::duration_trunc(now, Duration::hours(1)).unwrap();
    let stats = StatsQuery {
        entity: StatsEntityType::Campaign,
        entity_ids: seed.accounts[0].campaign_ids.clone(),
        start_time: end - Duration::days(7),
        end_time: end,
        granularity: Granularity::Total,
        placement: Placement::AllOnTwitter,
        metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
    };
    let created = x
        .create_stats_job(
            &acc,
            &StatsJobQuery::new(stats.clone()).segmented(SegmentationType::Platforms),
        )
        .await
        .unwrap();
    assert_eq!(created.job_limit.limit, Some(100));
    assert_eq!(created.job_limit.remaining, Some(99));
    let id = created.response.data.id.clone();
    let mut job = created.response.data;
    for _ in 0..5 {
        if job.status == JobStatus::Success {
            break;
        }
        let polled = x.stats_jobs(&acc, &JobListQuery::ids([&id])).await.unwrap();
        assert!(polled.job_limit.remaining.is_some());
        job = polled.response.data.into_iter().next().unwrap();
    }
    assert_eq!(job.status, JobStatus::Success);
    assert_eq!(job.segmentation_type, Some(SegmentationType::Platforms));
    let (rows, info) = x
        .download_stats_job(job.url.as_deref().unwrap())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert!(info.gzipped);
    let sync = x.stats(&acc, &stats).await.unwrap().data;
    for entity in &sync.data {
        let mine: Vec<_> = rows.iter().filter(|r| r.entity_id == entity.id).collect();
        for metric in ["impressions", "clicks", "billed_charge_local_micro"] {
            let want = entity.id_data[0].metrics.total(metric);
            let got: Option<i64> = mine
                .iter()
                .filter_map(|r| r.metrics.total(metric))
                .reduce(|a, b| a + b);
            assert_eq!(got, want, "{} {metric}", entity.id);
        }
        if !mine.is_empty() {
            let names: Vec<_> = mine
                .iter()
                .map(|r| r.segment.as_ref().unwrap().segment_name.clone().unwrap())
                .collect();
            assert_eq!(names, ["iOS", "Android", "Desktop"]);
        }
    }
    // A processing job cancels; a finished one does not.
    let pending = x
        .create_stats_job(&acc, &StatsJobQuery::new(stats))
        .await
        .unwrap()
        .response
        .data;
    let cancelled = x.cancel_stats_job(&acc, &pending.id).await.unwrap();
    assert_eq!(cancelled.response.data.status, JobStatus::Cancelled);
    let e = x.cancel_stats_job(&acc, &id).await.unwrap_err();
    assert_eq!(e.status(), Some(400));
}
