//! Asynchronous analytics jobs: X's validation, jobs that take polls or time, fail or expire, the
//! concurrency limit and its headers, the gzipped result at a URL without auth, and segments
//! that add up to the unsegmented numbers of the generator.

use std::collections::BTreeSet;
use std::io::Read;

use chrono::Duration;
use flate2::read::GzDecoder;
use serde_json::Value;
use xads_fake::{FakeConfig, FaultKind, FaultRule, JobSettings, hourly_metrics, split_hour};

use crate::support::{Answer, T, config, http};

fn jobs_path(t: &T) -> String {
    format!("/12/stats/jobs/accounts/{}", t.usd())
}

fn fixture_keys(name: &str) -> BTreeSet<String> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/x-ads-api")
        .join(name);
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let data = match &v["data"] {
        Value::Array(items) => items[0].clone(),
        other => other.clone(),
    };
    data.as_object().unwrap().keys().cloned().collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// Parameters of a job on the first line item of the USD account.
fn params(li: &str, start: &str, end: &str) -> Vec<(&'static str, String)> {
    vec![
        ("entity", "LINE_ITEM".into()),
        ("entity_ids", li.into()),
        ("start_time", start.into()),
        ("end_time", end.into()),
        ("granularity", "HOUR".into()),
        ("placement", "ALL_ON_TWITTER".into()),
        ("metric_groups", "ENGAGEMENT,BILLING".into()),
    ]
}

fn set(p: &mut Vec<(&'static str, String)>, k: &'static str, v: &str) {
    p.retain(|(kk, _)| *kk != k);
    p.push((k, v.into()));
}

async fn post(t: &T, p: &[(&'static str, String)]) -> Answer {
    let q: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    t.post(&jobs_path(t), &q).await
}

async fn poll(t: &T, id: &str) -> Value {
    let a = t.get(&jobs_path(t), &[("job_ids", id)]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["data"][0].clone()
}

async fn download(url: &str) -> (u16, Option<String>, Option<Value>) {
    // No Authorization header: the file needs none.
    let resp = http().get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await.unwrap();
    if status != 200 {
        return (status, ct, None);
    }
    let mut text = String::new();
    GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    (status, ct, Some(serde_json::from_str(&text).unwrap()))
}

fn first_li(t: &T) -> String {
    t.fake.seed_info().accounts[0].line_item_ids[0].clone()
}

#[tokio::test]
async fn jobs_are_validated_like_x() {
    let t = T::with(FakeConfig {
        history_days: 120,
        ..config()
    })
    .await;
    let li = first_li(&t);
    let ok90 = params(&li, "2026-02-19T00:00:00Z", "2026-05-20T00:00:00Z");
    assert_eq!(post(&t, &ok90).await.status, 200, "90 days unsegmented");
    let mut p = params(&li, "2026-02-18T23:00:00Z", "2026-05-20T00:00:00Z");
    let a = post(&t, &p).await;
    assert_eq!((a.status.as_u16(), a.error_parameter()), (400, "end_time"));
    set(&mut p, "start_time", "2026-04-05T00:00:00Z");
    set(&mut p, "segmentation_type", "PLATFORMS");
    assert_eq!(post(&t, &p).await.status, 200, "45 days segmented");
    set(&mut p, "start_time", "2026-04-04T23:00:00Z");
    assert_eq!(post(&t, &p).await.error_parameter(), "end_time", "46 days");
    let base = params(&li, "2026-05-18T00:00:00Z", "2026-05-19T00:00:00Z");
    let ids21 = vec!["x"; 21].join(",");
    let cases: Vec<(Vec<(&'static str, &str)>, &str)> = vec![
        (vec![("segmentation_type", "METROS")], "country"),
        (
            vec![("segmentation_type", "CONVERSION_TAGS")],
            "segmentation_type",
        ),
        (vec![("segmentation_type", "DEVICES")], "segmentation_type"),
        (vec![("entity_ids", ids21.as_str())], "entity_ids"),
        (vec![("start_time", "2026-05-18T00:30:00Z")], "start_time"),
        (vec![("placement", "ALL_ON_TWITTER,TREND")], "placement"),
    ];
    for (changes, param) in cases {
        let mut p = base.clone();
        for (k, v) in &changes {
            set(&mut p, k, v);
        }
        let a = post(&t, &p).await;
        assert_eq!(a.status, 400, "{changes:?}: {}", a.body);
        assert_eq!(a.error_parameter(), param, "{changes:?}: {}", a.body);
    }
    let mut tags = base.clone();
    set(&mut tags, "segmentation_type", "CONVERSION_TAGS");
    set(&mut tags, "metric_groups", "WEB_CONVERSION");
    assert_eq!(post(&t, &tags).await.status, 200);
    let mut metros = base.clone();
    set(&mut metros, "segmentation_type", "METROS");
    set(&mut metros, "country", "96683cc9126741d1");
    assert_eq!(post(&t, &metros).await.status, 200);
}

#[tokio::test]
async fn a_job_is_processing_for_its_polls_then_serves_the_sync_numbers_gzipped_without_auth() {
    let t = T::new().await;
    let li = first_li(&t);
    let p = params(&li, "2026-05-13T00:00:00Z", "2026-05-20T00:00:00Z");
    let created = post(&t, &p).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let job = &created.body["data"];
    assert_eq!(
        keys(job),
        fixture_keys("docs-x__stats_jobs_post_response.json")
    );
    assert_eq!(job["status"], "PROCESSING");
    assert!(job["url"].is_null() && job["expires_at"].is_null());
    assert!(job["id"].is_u64());
    assert_eq!(job["id_str"], job["id"].as_u64().unwrap().to_string());
    assert_eq!(created.header("x-concurrent-job-limit"), Some("100"));
    assert_eq!(
        created.header("x-concurrent-job-limit-remaining"),
        Some("99")
    );
    let id = job["id_str"].as_str().unwrap().to_string();

    let first = t.get(&jobs_path(&t), &[("job_ids", &id)]).await;
    assert_eq!(first.body["data"][0]["status"], "PROCESSING");
    assert_eq!(first.body["request"]["params"]["job_ids"][0], job["id"]);
    assert_eq!(first.header("x-concurrent-job-limit-remaining"), Some("99"));
    let done = poll(&t, &id).await;
    assert_eq!(done["status"], "SUCCESS");
    assert_eq!(
        keys(&done),
        fixture_keys("docs-x__stats_jobs_get_response.json")
    );
    let url = done["url"].as_str().unwrap();
    assert!(
        url.starts_with(&t.url("/ton/advertiser-api-async-analytics/stats_job_")),
        "{url}"
    );
    assert_eq!(
        done["expires_at"],
        (t.fake.now() + Duration::days(2))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    );
    let (status, ct, file) = download(url).await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("application/gzip"));
    let file = file.unwrap();
    let q: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sync = t
        .get(&format!("/12/stats/accounts/{}", t.usd()), &q)
        .await
        .body;
    assert_eq!(
        file["data"], sync["data"],
        "the same numbers as the sync call"
    );
    assert_eq!(file["time_series_length"], 168);
    assert_eq!(
        keys(&file["request"]["params"]),
        keys(&sync["request"]["params"])
    );
}

/// Sums every metric series of a segmented entity's id_data element-wise.
fn summed(id_data: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for seg in id_data.as_array().unwrap() {
        for (name, series) in seg["metrics"].as_object().unwrap() {
            if let Some(obj) = series.as_object() {
                let entry = out
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Default::default()));
                for (field, s) in obj {
                    add_into(entry.as_object_mut().unwrap(), field, s);
                }
            } else {
                add_into(&mut out, name, series);
            }
        }
    }
    Value::Object(out)
}

fn add_into(out: &mut serde_json::Map<String, Value>, name: &str, series: &Value) {
    let Some(values) = series.as_array() else {
        return;
    };
    let entry = out
        .entry(name.to_string())
        .or_insert_with(|| Value::Array(vec![Value::from(0i64); values.len()]));
    let acc = entry.as_array_mut().unwrap();
    for (a, v) in acc.iter_mut().zip(values) {
        *a = Value::from(a.as_i64().unwrap() + v.as_i64().unwrap());
    }
}

/// The non-null series of an unsegmented answer's metrics.
fn non_null(metrics: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in metrics.as_object().unwrap() {
        match v {
            Value::Null => {}
            Value::Object(o) => {
                let inner: serde_json::Map<String, Value> = o
                    .iter()
                    .filter(|(_, s)| s.is_array())
                    .map(|(f, s)| (f.clone(), s.clone()))
                    .collect();
                out.insert(k.clone(), Value::Object(inner));
            }
            other => {
                out.insert(k.clone(), other.clone());
            }
        }
    }
    Value::Object(out)
}

async fn finished_file(t: &T, p: &[(&'static str, String)]) -> Value {
    let created = post(t, p).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["data"]["id_str"].as_str().unwrap().to_string();
    poll(t, &id).await;
    let done = poll(t, &id).await;
    assert_eq!(done["status"], "SUCCESS");
    download(done["url"].as_str().unwrap()).await.2.unwrap()
}

#[tokio::test]
async fn segments_add_up_to_the_unsegmented_numbers() {
    let t = T::new().await;
    let account = &t.fake.seed_info().accounts[0];
    let campaigns = account.campaign_ids.join(",");
    let sync_path = format!("/12/stats/accounts/{}", t.usd());
    for (seg, country, groups, count) in [
        ("PLATFORMS", None, "ENGAGEMENT,BILLING", 3),
        ("AGE", None, "ENGAGEMENT,BILLING", 4),
        ("GENDER", None, "ENGAGEMENT,BILLING", 2),
        ("METROS", Some("96683cc9126741d1"), "ENGAGEMENT,BILLING", 5),
        ("CONVERSION_TAGS", None, "WEB_CONVERSION", 2),
    ] {
        let mut p = params(&campaigns, "2026-05-17T00:00:00Z", "2026-05-20T00:00:00Z");
        set(&mut p, "entity", "CAMPAIGN");
        set(&mut p, "metric_groups", groups);
        let q: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let sync = t.get(&sync_path, &q).await.body;
        set(&mut p, "segmentation_type", seg);
        if let Some(c) = country {
            set(&mut p, "country", c);
        }
        let file = finished_file(&t, &p).await;
        assert_eq!(file["request"]["params"]["segmentation_type"], seg);
        let mut compared = 0;
        for (ours, theirs) in file["data"]
            .as_array()
            .unwrap()
            .iter()
            .zip(sync["data"].as_array().unwrap())
        {
            assert_eq!(ours["id"], theirs["id"]);
            let id_data = &ours["id_data"];
            if theirs["id_data"][0]["metrics"]["impressions"].is_null()
                && theirs["id_data"][0]["metrics"]["conversion_purchases"].is_null()
            {
                assert_eq!(
                    id_data,
                    &Value::Array(vec![]),
                    "{seg}: no delivery, no segment"
                );
                continue;
            }
            assert_eq!(id_data.as_array().unwrap().len(), count, "{seg}");
            for s in id_data.as_array().unwrap() {
                assert!(s["segment"]["segment_name"].is_string(), "{seg}");
                assert!(s["segment"]["segment_value"].is_string(), "{seg}");
            }
            assert_eq!(
                summed(id_data),
                non_null(&theirs["id_data"][0]["metrics"]),
                "{seg}: segments sum to the unsegmented series of {}",
                ours["id"]
            );
            compared += 1;
        }
        assert!(compared > 0, "{seg}: no campaign delivered");
    }
}

/// A segmented result is a function of the seed and the job: the same job again, and the same
/// job on another fake with the same seed, answer the same segments and numbers (what a
/// backfill that retries a failed job as a new one relies on), and at DAY granularity the
/// segments still sum to the unsegmented days of every line item.
#[tokio::test]
async fn segment_data_is_deterministic_and_sums_by_day_too() {
    let t = T::new().await;
    let other = T::new().await;
    let account = &t.fake.seed_info().accounts[0];
    let lis = account.line_item_ids.join(",");
    // Midnights of the account's zone (America/Los_Angeles), as DAY granularity wants.
    let mut p = params(&lis, "2026-05-15T07:00:00Z", "2026-05-20T07:00:00Z");
    set(&mut p, "segmentation_type", "GENDER");
    let first = finished_file(&t, &p).await;
    let again = finished_file(&t, &p).await;
    let elsewhere = finished_file(&other, &p).await;
    assert_eq!(first["data"], again["data"], "the same job twice");
    assert_eq!(first["data"], elsewhere["data"], "the same seed elsewhere");
    assert!(
        first["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| !d["id_data"].as_array().unwrap().is_empty()),
        "some line item delivered"
    );

    set(&mut p, "granularity", "DAY");
    let by_day = finished_file(&t, &p).await;
    p.retain(|(k, _)| *k != "segmentation_type");
    let q: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sync = t
        .get(&format!("/12/stats/accounts/{}", t.usd()), &q)
        .await
        .body;
    let mut compared = 0;
    for (ours, theirs) in by_day["data"]
        .as_array()
        .unwrap()
        .iter()
        .zip(sync["data"].as_array().unwrap())
    {
        assert_eq!(ours["id"], theirs["id"]);
        if ours["id_data"].as_array().unwrap().is_empty() {
            continue;
        }
        assert_eq!(
            summed(&ours["id_data"]),
            non_null(&theirs["id_data"][0]["metrics"]),
            "GENDER by day sums to the unsegmented days of {}",
            ours["id"]
        );
        compared += 1;
    }
    assert!(compared > 0, "no line item delivered");
}

#[tokio::test]
async fn platform_segments_are_the_generator_split() {
    let t = T::new().await;
    let seed = t.fake.config().seed;
    let li = first_li(&t);
    let mut p = params(&li, "2026-05-19T00:00:00Z", "2026-05-20T00:00:00Z");
    set(&mut p, "segmentation_type", "PLATFORMS");
    let file = finished_file(&t, &p).await;
    let id_data = file["data"][0]["id_data"].as_array().unwrap();
    let names: Vec<&str> = id_data
        .iter()
        .map(|s| s["segment"]["segment_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["iOS", "Android", "Desktop"]);
    let start = chrono::DateTime::parse_from_rfc3339("2026-05-19T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut checked = 0;
    for h in 0..24 {
        let hour = start + Duration::hours(h);
        let Some(m) = hourly_metrics(seed, &li, hour, 0) else {
            continue;
        };
        let parts = split_hour(seed, &li, hour, "PLATFORMS", m, 3);
        let at = |k: usize, metric: &str| id_data[k]["metrics"][metric][h as usize].clone();
        // Hours the line item did not serve answer 0 in every segment.
        let served = (0..3).any(|k| at(k, "impressions").as_u64() != Some(0));
        for (k, part) in parts.iter().enumerate() {
            if served {
                assert_eq!(
                    at(k, "impressions").as_u64(),
                    Some(part.impressions),
                    "hour {h} segment {k}"
                );
                assert_eq!(
                    at(k, "billed_charge_local_micro").as_i64(),
                    Some(part.billed_charge_local_micro)
                );
                checked += 1;
            }
        }
        assert_eq!(
            parts.iter().map(|p| p.impressions).sum::<u64>(),
            m.impressions
        );
        assert_eq!(
            parts
                .iter()
                .map(|p| p.billed_charge_local_micro)
                .sum::<i64>(),
            m.billed_charge_local_micro
        );
    }
    assert!(checked > 0, "no served hour was compared");
}

#[tokio::test]
async fn the_concurrency_limit_is_enforced_and_shown_and_cancel_frees_a_slot() {
    let t = T::with(FakeConfig {
        jobs: JobSettings {
            concurrency_limit: 2,
            polls: 5,
            ..JobSettings::default()
        },
        ..config()
    })
    .await;
    let li = first_li(&t);
    let p = params(&li, "2026-05-18T00:00:00Z", "2026-05-19T00:00:00Z");
    let a = post(&t, &p).await;
    assert_eq!(a.header("x-concurrent-job-limit-remaining"), Some("1"));
    let b = post(&t, &p).await;
    assert_eq!(b.header("x-concurrent-job-limit"), Some("2"));
    assert_eq!(b.header("x-concurrent-job-limit-remaining"), Some("0"));
    let refused = post(&t, &p).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error_code(), "TOO_MANY_JOBS");
    assert_eq!(
        refused.header("x-concurrent-job-limit-remaining"),
        Some("0")
    );

    let id = b.body["data"]["id_str"].as_str().unwrap().to_string();
    let cancelled = t.delete(&format!("{}/{id}", jobs_path(&t)), &[]).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["data"]["status"], "CANCELLED");
    assert_eq!(
        keys(&cancelled.body["data"]),
        fixture_keys("community__stats_jobs_delete_v1.json")
    );
    assert_eq!(
        cancelled.header("x-concurrent-job-limit-remaining"),
        Some("1")
    );
    assert_eq!(poll(&t, &id).await["status"], "CANCELLED");
    assert_eq!(post(&t, &p).await.status, 200, "the slot is free again");
    let again = t.delete(&format!("{}/{id}", jobs_path(&t)), &[]).await;
    assert_eq!(again.status, 400, "a cancelled job cannot be cancelled");
    let unknown = t.delete(&format!("{}/123", jobs_path(&t)), &[]).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn processing_time_runs_on_the_fake_clock() {
    let t = T::new().await;
    let ctl = t
        .http
        .post(t.url("/__fake/jobs"))
        .json(&serde_json::json!({"settings": {"polls": 0, "processing_secs": 600}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ctl.status(), 200);
    let li = first_li(&t);
    let p = params(&li, "2026-05-18T00:00:00Z", "2026-05-19T00:00:00Z");
    let id = post(&t, &p).await.body["data"]["id_str"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..3 {
        assert_eq!(poll(&t, &id).await["status"], "PROCESSING");
    }
    t.fake.advance_clock(Duration::minutes(10));
    assert_eq!(poll(&t, &id).await["status"], "SUCCESS");
}

#[tokio::test]
async fn jobs_fail_and_results_expire() {
    let t = T::new().await;
    let li = first_li(&t);
    let p = params(&li, "2026-05-18T00:00:00Z", "2026-05-19T00:00:00Z");
    t.fake
        .add_fault(FaultRule::new(Some("POST"), "/12/stats/jobs/", FaultKind::JobFailed).times(1));
    let failed = post(&t, &p).await.body["data"]["id_str"]
        .as_str()
        .unwrap()
        .to_string();
    poll(&t, &failed).await;
    let job = poll(&t, &failed).await;
    assert_eq!(job["status"], "FAILED");
    assert!(job["url"].is_null());

    t.fake
        .add_fault(FaultRule::new(Some("POST"), "/12/stats/jobs/", FaultKind::JobExpired).times(1));
    let expired = post(&t, &p).await.body["data"]["id_str"]
        .as_str()
        .unwrap()
        .to_string();
    poll(&t, &expired).await;
    let job = poll(&t, &expired).await;
    assert_eq!(job["status"], "SUCCESS");
    assert_eq!(download(job["url"].as_str().unwrap()).await.0, 404);

    // The control API fails a processing job too.
    let later = post(&t, &p).await.body["data"]["id_str"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(t.fake.fail_job(&later));
    poll(&t, &later).await;
    assert_eq!(poll(&t, &later).await["status"], "FAILED");
    // An ordinary result lives two days on the fake clock (the file needs no token, so the
    // token's expiry in the meantime does not matter).
    let ok = post(&t, &p).await.body["data"]["id_str"]
        .as_str()
        .unwrap()
        .to_string();
    poll(&t, &ok).await;
    let url = poll(&t, &ok).await["url"].as_str().unwrap().to_string();
    assert_eq!(download(&url).await.0, 200);
    t.fake.advance_clock(Duration::days(2));
    assert_eq!(download(&url).await.0, 404);
    assert_eq!(
        download(&t.url("/ton/advertiser-api-async-analytics/stats_job_1.json.gz"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn polls_page_with_a_cursor() {
    let t = T::new().await;
    let li = first_li(&t);
    let p = params(&li, "2026-05-18T00:00:00Z", "2026-05-19T00:00:00Z");
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            post(&t, &p).await.body["data"]["id_str"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let all = ids.join(",");
    let first = t
        .get(&jobs_path(&t), &[("job_ids", &all), ("count", "2")])
        .await;
    assert_eq!(first.body["data"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = t
        .get(
            &jobs_path(&t),
            &[("job_ids", &all), ("count", "2"), ("cursor", &cursor)],
        )
        .await;
    assert_eq!(second.body["data"].as_array().unwrap().len(), 1);
    assert!(second.body["next_cursor"].is_null());
    let mut seen: Vec<String> = first.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["data"].as_array().unwrap())
        .map(|j| j["id_str"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    let bad = t.get(&jobs_path(&t), &[("count", "1001")]).await;
    assert_eq!(bad.status, 400);
}
