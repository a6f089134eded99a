//! Asynchronous analytics jobs (x-ads-api.md §5, "Asynchronous jobs"): create, poll, cancel, and
//! the gzipped result file served without auth on the fake's own host under `/ton/…`.
//!
//! A job is `PROCESSING` until it has been polled [`JobSettings::polls`] times *and*
//! [`JobSettings::processing_secs`] have passed on the fake's clock; then it is `SUCCESS` (its
//! result computed from the stats generator at that moment and kept gzipped) or `FAILED` (the
//! `job_failed` fault). A result is served until `expires_at` (`result_ttl_secs` after
//! completion; at once with the `job_expired` fault, or [`FakeState::expire_job`]), then 404.
//! At most [`JobSettings::concurrency_limit`] jobs per account are in processing; every job
//! answer carries `X-Concurrent-Job-Limit` and `X-Concurrent-Job-Limit-Remaining`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::FakeConfig;
use crate::entities::{Ctx, account};
use crate::envelope::ApiError;
use crate::faults::FaultKind;
use crate::model::fmt_time;
use crate::state::{FakeState, State};
use crate::stats::{StatsRequest, stats_body};
use crate::time::tz_of;

/// Where result files live on the fake's host (X: `https://ton.twimg.com/advertiser-api-async-analytics/…`).
pub const RESULT_PATH: &str = "/ton/advertiser-api-async-analytics";
/// Segmentation types X enables (as of May 2026).
pub const SEGMENTATION_TYPES: &[&str] =
    &["AGE", "GENDER", "PLATFORMS", "METROS", "CONVERSION_TAGS"];
/// Longest unsegmented job, in days.
pub const MAX_SPAN_DAYS: i64 = 90;
/// Longest segmented job, in days.
pub const MAX_SEGMENTED_SPAN_DAYS: i64 = 45;

/// How jobs behave; from [`FakeConfig`], changeable at run time (`/__fake/jobs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobSettings {
    /// Polls that answer `PROCESSING` before the job finishes.
    pub polls: u32,
    /// Seconds (fake clock) a job takes at least.
    pub processing_secs: i64,
    /// How long a result file stays downloadable after completion (X's example: ~2 days).
    pub result_ttl_secs: i64,
    /// Jobs per account in processing (X: 100).
    pub concurrency_limit: usize,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            polls: 1,
            processing_secs: 0,
            result_ttl_secs: 2 * 24 * 3600,
            concurrency_limit: 100,
        }
    }
}

/// One job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Numeric id, as a string.
    pub id: String,
    /// The ads account.
    pub account_id: String,
    /// `PROCESSING`, `SUCCESS`, `FAILED`, `CANCELLED`.
    pub status: &'static str,
    /// What was asked.
    pub request: StatsRequest,
    /// Created (fake clock).
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Polls answered so far.
    pub polls: u32,
    /// Polls needed before it finishes.
    pub polls_needed: u32,
    /// Not finished before this.
    pub ready_at: DateTime<Utc>,
    /// Ends `FAILED` (fault `job_failed`).
    pub fail: bool,
    /// The result expires as soon as it exists (fault `job_expired`).
    pub expire_at_once: bool,
    /// When the result stops being served.
    pub expires_at: Option<DateTime<Utc>>,
    /// The host the job was created through (for its `url`).
    pub host: String,
    /// The gzipped result file.
    pub result: Option<Arc<Vec<u8>>>,
}

impl Job {
    fn url(&self) -> Option<String> {
        (self.status == "SUCCESS").then(|| {
            format!(
                "http://{}{RESULT_PATH}/stats_job_{}.json.gz",
                self.host, self.id
            )
        })
    }

    /// The job as X answers it (keys as in X's examples: `id` a number, `id_str` a string).
    pub fn json(&self) -> Value {
        let r = &self.request;
        json!({
            "start_time": fmt_time(r.start),
            "segmentation_type": r.segmentation,
            "url": self.url(),
            "id_str": self.id,
            "entity_ids": r.ids,
            "end_time": fmt_time(r.end),
            "country": r.country,
            "placement": r.placement,
            "id": self.id.parse::<u64>().map_or_else(|_| json!(self.id), |n| json!(n)),
            "expires_at": self.expires_at.map(fmt_time),
            "account_id": self.account_id,
            "status": self.status,
            "granularity": r.granularity,
            "entity": r.entity,
            "created_at": fmt_time(self.created_at),
            "platform": r.platform,
            "updated_at": fmt_time(self.updated_at),
            "metric_groups": r.groups,
        })
    }
}

/// Finishes `job` if it is due, computing its result from the generator now.
fn advance(s: &mut State, seed: u64, idx: usize, polled: bool) {
    let now = s.clock.now();
    let job = &s.jobs[idx];
    if job.status != "PROCESSING" {
        return;
    }
    if job.polls < job.polls_needed || now < job.ready_at {
        if polled {
            s.jobs[idx].polls += 1;
        }
        return;
    }
    if job.fail {
        let job = &mut s.jobs[idx];
        job.status = "FAILED";
        job.updated_at = now;
        return;
    }
    let body = stats_body(s, seed, &job.account_id.clone(), &job.request.clone());
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut gz, &body);
    let bytes = gz.finish().unwrap_or_default();
    let ttl = Duration::seconds(s.job_settings.result_ttl_secs);
    let job = &mut s.jobs[idx];
    job.status = "SUCCESS";
    job.updated_at = now;
    job.expires_at = Some(if job.expire_at_once { now } else { now + ttl });
    job.result = Some(Arc::new(bytes));
}

fn processing(s: &State, account_id: &str) -> usize {
    s.jobs
        .iter()
        .filter(|j| j.account_id == account_id && j.status == "PROCESSING")
        .count()
}

fn with_limit_headers(mut r: Response, limit: usize, in_processing: usize) -> Response {
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&limit.to_string()) {
        h.insert("x-concurrent-job-limit", v);
    }
    if let Ok(v) = HeaderValue::from_str(&limit.saturating_sub(in_processing).to_string()) {
        h.insert("x-concurrent-job-limit-remaining", v);
    }
    r
}

fn host_of(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ']))
        .unwrap_or("127.0.0.1")
        .to_string()
}

fn json_ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

/// `POST /12/stats/jobs/accounts/:account_id`.
pub async fn create(
    ctx: Ctx,
    headers: HeaderMap,
    fault: Option<Extension<FaultKind>>,
    Path(account_id): Path<String>,
) -> Response {
    let echo = ctx.p.echo(&[]);
    let seed = ctx.st.config().seed;
    let host = host_of(&headers);
    let mut limit_now = None;
    let resp = ctx.run(echo.clone(), |s| {
        let tz = tz_of(&account(s, &ctx.who, &account_id)?.timezone);
        let request = StatsRequest::parse(s, seed, &account_id, &ctx.p, tz, true)?;
        let settings = s.job_settings;
        for i in 0..s.jobs.len() {
            if s.jobs[i].account_id == account_id {
                advance(s, seed, i, false);
            }
        }
        let busy = processing(s, &account_id);
        limit_now = Some((settings.concurrency_limit, busy));
        if busy >= settings.concurrency_limit {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "TOO_MANY_JOBS",
                format!(
                    "The account has {busy} jobs in processing, the limit is {}",
                    settings.concurrency_limit
                ),
                None,
            ));
        }
        let now = s.clock.now();
        let id = s.ids.decimal();
        let fault = fault.map(|Extension(f)| f);
        s.jobs.push(Job {
            id,
            account_id: account_id.clone(),
            status: "PROCESSING",
            request,
            created_at: now,
            updated_at: now,
            polls: 0,
            polls_needed: settings.polls,
            ready_at: now + Duration::seconds(settings.processing_secs),
            fail: matches!(fault, Some(FaultKind::JobFailed)),
            expire_at_once: matches!(fault, Some(FaultKind::JobExpired)),
            expires_at: None,
            host: host.clone(),
            result: None,
        });
        limit_now = Some((settings.concurrency_limit, busy + 1));
        let job = s.jobs.last().map(Job::json).unwrap_or(Value::Null);
        Ok(json_ok(
            json!({ "request": { "params": echo }, "data": job }),
        ))
    });
    match limit_now {
        Some((limit, busy)) => with_limit_headers(resp, limit, busy),
        None => resp,
    }
}

/// `GET /12/stats/jobs/accounts/:account_id` (`job_ids`, `count`, `cursor`).
pub async fn list(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let seed = ctx.st.config().seed;
    let mut echo = serde_json::Map::new();
    let wanted: Option<Vec<String>> = ctx.p.get("job_ids").map(|_| ctx.p.list("job_ids"));
    if let Some(ids) = &wanted {
        // X echoes job ids as numbers.
        echo.insert(
            "job_ids".into(),
            ids.iter()
                .map(|i| i.parse::<u64>().map_or_else(|_| json!(i), |n| json!(n)))
                .collect(),
        );
    }
    for k in ["count", "cursor"] {
        if let Some(v) = ctx.p.get(k) {
            echo.insert(k.into(), json!(v));
        }
    }
    let echo = Value::Object(echo);
    let mut limit_now = None;
    let resp = ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        if let Some(ids) = &wanted
            && ids.len() > 200
        {
            return Err(ApiError::invalid(
                "job_ids",
                format!("Expected at most 200 items, got {} for job_ids", ids.len()),
            ));
        }
        let count = match ctx.p.get("count") {
            None => 200,
            Some(c) => c
                .parse::<usize>()
                .ok()
                .filter(|c| (1..=1000).contains(c))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "count",
                        format!("Expected 1 to 1000, got \"{c}\" for count"),
                    )
                })?,
        };
        let offset = match ctx.p.get("cursor").filter(|c| !c.is_empty()) {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .map_err(|_| ApiError::invalid("cursor", format!("Invalid cursor \"{c}\"")))?,
        };
        // Newest first, as X lists.
        let mut picked: Vec<usize> = (0..s.jobs.len())
            .rev()
            .filter(|&i| s.jobs[i].account_id == account_id)
            .filter(|&i| wanted.as_ref().is_none_or(|w| w.contains(&s.jobs[i].id)))
            .collect();
        let total = picked.len();
        picked = picked.into_iter().skip(offset).take(count).collect();
        for &i in &picked {
            advance(s, seed, i, true);
        }
        let data: Vec<Value> = picked.iter().map(|&i| s.jobs[i].json()).collect();
        let next = (offset + count < total).then(|| (offset + count).to_string());
        limit_now = Some((s.job_settings.concurrency_limit, processing(s, &account_id)));
        Ok(json_ok(json!({
            "request": { "params": echo },
            "next_cursor": next,
            "data": data,
        })))
    });
    match limit_now {
        Some((limit, busy)) => with_limit_headers(resp, limit, busy),
        None => resp,
    }
}

/// `DELETE /12/stats/jobs/accounts/:account_id/:job_id`: cancels a processing job.
pub async fn cancel(ctx: Ctx, Path((account_id, job_id)): Path<(String, String)>) -> Response {
    let seed = ctx.st.config().seed;
    let echo = json!({
        "job_id": job_id.parse::<u64>().map_or_else(|_| json!(job_id), |n| json!(n)),
        "account_id": account_id,
    });
    let mut limit_now = None;
    let resp = ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let idx = s
            .jobs
            .iter()
            .position(|j| j.account_id == account_id && j.id == job_id)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "The requested resource could not be found",
                    Some("job_id"),
                )
            })?;
        advance(s, seed, idx, false);
        let now = s.clock.now();
        let job = &mut s.jobs[idx];
        if job.status != "PROCESSING" {
            // X documents cancelling queued or processing jobs only; the fake refuses the rest.
            return Err(ApiError::invalid(
                "job_id",
                format!("Job {job_id} is {} and cannot be cancelled", job.status),
            ));
        }
        job.status = "CANCELLED";
        job.updated_at = now;
        let data = job.json();
        limit_now = Some((s.job_settings.concurrency_limit, processing(s, &account_id)));
        Ok(json_ok(json!({
            "request": { "params": echo },
            "data_type": "job",
            "data": data,
        })))
    });
    match limit_now {
        Some((limit, busy)) => with_limit_headers(resp, limit, busy),
        None => resp,
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body></html>",
    )
        .into_response()
}

/// `GET /ton/advertiser-api-async-analytics/:file`: a finished job's result, gzipped, no auth.
pub async fn download(
    axum::extract::State(st): axum::extract::State<FakeState>,
    Path(file): Path<String>,
) -> Response {
    let Some(id) = file
        .strip_prefix("stats_job_")
        .and_then(|f| f.strip_suffix(".json.gz"))
    else {
        return not_found();
    };
    let bytes = {
        let s = st.lock();
        let now = s.clock.now();
        match s.jobs.iter().find(|j| j.id == id) {
            Some(j) if j.expires_at.is_some_and(|e| now < e) => j.result.clone(),
            _ => None,
        }
    };
    match bytes {
        None => not_found(),
        Some(b) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/gzip"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=json.json.gz",
                ),
            ],
            b.as_ref().clone(),
        )
            .into_response(),
    }
}

impl JobSettings {
    /// The settings a config starts with.
    pub fn from_config(cfg: &FakeConfig) -> Self {
        cfg.jobs
    }
}

impl FakeState {
    /// Every job of `account_id`, oldest first, as X would answer them (without advancing them).
    pub fn stats_jobs(&self, account_id: &str) -> Vec<Value> {
        let s = self.lock();
        s.jobs
            .iter()
            .filter(|j| j.account_id == account_id)
            .map(Job::json)
            .collect()
    }

    /// The job settings in force.
    pub fn job_settings(&self) -> JobSettings {
        self.lock().job_settings
    }

    /// Changes how new jobs behave.
    pub fn set_job_settings(&self, settings: JobSettings) {
        self.lock().job_settings = settings;
    }

    /// Makes a processing job end `FAILED`; `false` when there is no such processing job.
    pub fn fail_job(&self, job_id: &str) -> bool {
        let mut s = self.lock();
        match s
            .jobs
            .iter_mut()
            .find(|j| j.id == job_id && j.status == "PROCESSING")
        {
            Some(j) => {
                j.fail = true;
                true
            }
            None => false,
        }
    }

    /// Expires a job's result now (a later download answers 404); `false` when unknown.
    pub fn expire_job(&self, job_id: &str) -> bool {
        let mut s = self.lock();
        let now = s.clock.now();
        match s.jobs.iter_mut().find(|j| j.id == job_id) {
            Some(j) => {
                j.expire_at_once = true;
                if j.expires_at.is_some() {
                    j.expires_at = Some(now);
                }
                true
            }
            None => false,
        }
    }
}

/// Parameters of `POST /__fake/jobs`: new settings and/or a fault on one job.
#[derive(Debug, Default, Deserialize)]
pub struct JobControl {
    /// New settings for jobs created from now on.
    #[serde(default)]
    pub settings: Option<JobSettings>,
    /// Make this job fail.
    #[serde(default)]
    pub fail: Option<String>,
    /// Expire this job's result.
    #[serde(default)]
    pub expire: Option<String>,
}

/// Reads `POST /__fake/jobs` (used by `control`).
pub fn apply_control(st: &FakeState, c: JobControl) -> Result<Value, String> {
    if let Some(settings) = c.settings {
        st.set_job_settings(settings);
    }
    if let Some(id) = c.fail
        && !st.fail_job(&id)
    {
        return Err(format!("no processing job {id}"));
    }
    if let Some(id) = c.expire
        && !st.expire_job(&id)
    {
        return Err(format!("no job {id}"));
    }
    Ok(serde_json::to_value(st.job_settings()).unwrap_or(Value::Null))
}
