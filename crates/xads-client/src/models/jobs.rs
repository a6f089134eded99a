//! Asynchronous analytics jobs (x-ads-api.md §5, "Asynchronous jobs"): the job object, the
//! parameters of a job and of a poll, and the rows of a result file.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::common::{lenient_id, lenient_opt_id};
use super::stats::{Metrics, StatsQuery};
use crate::params::{Params, ToParams};
use crate::vocab::{Granularity, MetricGroup, Placement, SegmentationType, StatsEntityType};

/// X's cap on the span of an unsegmented job.
pub const MAX_JOB_SPAN_DAYS: i64 = 90;
/// X's cap on the span of a segmented job.
pub const MAX_SEGMENTED_JOB_SPAN_DAYS: i64 = 45;
/// X's cap on `job_ids` per poll.
pub const MAX_JOB_IDS: usize = 200;
/// X's concurrency limit: jobs in processing per account (X sends the live value in
/// `X-Concurrent-Job-Limit`).
pub const DEFAULT_CONCURRENT_JOB_LIMIT: u64 = 100;

/// `POST /12/stats/jobs/accounts/:id` parameters: the synchronous call's plus a segmentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsJobQuery {
    /// Entity, ids (≤ 20), window (whole hours, ≤ 90 days; ≤ 45 segmented), granularity,
    /// placement and metric groups, as for the synchronous call.
    pub stats: StatsQuery,
    /// Split the numbers by this dimension.
    pub segmentation_type: Option<SegmentationType>,
    /// X's targeting value of a country (US = `96683cc9126741d1`); required for METROS.
    pub country: Option<String>,
    /// X's targeting value of a platform, to narrow a segmentation.
    pub platform: Option<String>,
}

impl StatsJobQuery {
    /// An unsegmented job over `stats`.
    pub fn new(stats: StatsQuery) -> Self {
        StatsJobQuery {
            stats,
            segmentation_type: None,
            country: None,
            platform: None,
        }
    }

    /// The same job split by `segmentation`.
    pub fn segmented(mut self, segmentation: SegmentationType) -> Self {
        self.segmentation_type = Some(segmentation);
        self
    }

    /// Sets `country`.
    pub fn country(mut self, country: impl Into<String>) -> Self {
        self.country = Some(country.into());
        self
    }

    /// The longest span X accepts for this job.
    pub fn max_span_days(&self) -> i64 {
        if self.segmentation_type.is_some() {
            MAX_SEGMENTED_JOB_SPAN_DAYS
        } else {
            MAX_JOB_SPAN_DAYS
        }
    }

    /// Checks X's documented rules, so a bad job fails here instead of costing a request.
    pub fn validate(&self) -> Result<(), String> {
        let max = self.max_span_days();
        self.stats.validate_within(max)?;
        match self.segmentation_type {
            Some(SegmentationType::Metros) if self.country.as_deref().is_none_or(str::is_empty) => {
                Err("segmentation_type METROS needs a country".into())
            }
            Some(SegmentationType::ConversionTags)
                if self.stats.metric_groups != [MetricGroup::WebConversion] =>
            {
                Err("segmentation_type CONVERSION_TAGS works with metric_groups WEB_CONVERSION only".into())
            }
            _ => Ok(()),
        }
    }
}

impl ToParams for StatsJobQuery {
    fn to_params(&self) -> Params {
        let mut p = self.stats.to_params();
        p.opt("segmentation_type", self.segmentation_type)
            .opt("country", self.country.as_deref())
            .opt("platform", self.platform.as_deref());
        p
    }
}

/// `GET /12/stats/jobs/accounts/:id` parameters. No `job_ids` lists the account's jobs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobListQuery {
    /// At most 200 job ids.
    pub job_ids: Vec<String>,
    /// Page size, 1 to 1000 (X's default 200).
    pub count: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl JobListQuery {
    /// The jobs with these ids.
    pub fn ids<S: Into<String>>(ids: impl IntoIterator<Item = S>) -> Self {
        JobListQuery {
            job_ids: ids.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Checks X's documented rules.
    pub fn validate(&self) -> Result<(), String> {
        if self.job_ids.len() > MAX_JOB_IDS {
            return Err(format!(
                "job_ids may hold at most {MAX_JOB_IDS} ids, got {}",
                self.job_ids.len()
            ));
        }
        if let Some(c) = self.count
            && !(1..=crate::endpoints::MAX_COUNT).contains(&c)
        {
            return Err(format!("count must be 1 to 1000, got {c}"));
        }
        Ok(())
    }
}

impl ToParams for JobListQuery {
    fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.list("job_ids", &self.job_ids)
            .opt("count", self.count)
            .opt("cursor", self.cursor.as_deref());
        p
    }
}

/// A job's `status`. X documents PROCESSING, SUCCESS and CANCELLED (DELETE); QUEUED and FAILED
/// are in older material. Unknown values are kept, not rejected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// `QUEUED`
    Queued,
    /// `PROCESSING`
    Processing,
    /// `SUCCESS`: `url` holds the result file.
    Success,
    /// `FAILED`
    Failed,
    /// `CANCELLED`
    Cancelled,
    /// Anything else X may send.
    Other(String),
}

impl JobStatus {
    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Processing => "PROCESSING",
            JobStatus::Success => "SUCCESS",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelled => "CANCELLED",
            JobStatus::Other(s) => s,
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Self {
        match s {
            "QUEUED" => JobStatus::Queued,
            "PROCESSING" => JobStatus::Processing,
            "SUCCESS" => JobStatus::Success,
            "FAILED" => JobStatus::Failed,
            "CANCELLED" => JobStatus::Cancelled,
            other => JobStatus::Other(other.to_owned()),
        }
    }

    /// Still running at X (counts against the concurrency limit).
    pub fn is_pending(&self) -> bool {
        matches!(self, JobStatus::Queued | JobStatus::Processing)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(JobStatus::parse(&String::deserialize(d)?))
    }
}

/// An asynchronous stats job as X answers it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatsJob {
    /// The job id: `id_str` when present, else `id` (a number, or a string in the SDK's fixture,
    /// which carries `id` twice).
    pub id: String,
    /// The ad account.
    pub account_id: Option<String>,
    /// Where the job is.
    pub status: JobStatus,
    /// The result file (gzipped JSON, no auth) once `SUCCESS`.
    pub url: Option<String>,
    /// Until when `url` can be fetched.
    pub expires_at: Option<DateTime<Utc>>,
    /// Entity type.
    pub entity: Option<StatsEntityType>,
    /// Entity ids.
    pub entity_ids: Vec<String>,
    /// Window start.
    pub start_time: Option<DateTime<Utc>>,
    /// Window end (exclusive).
    pub end_time: Option<DateTime<Utc>>,
    /// Granularity.
    pub granularity: Option<Granularity>,
    /// Placement.
    pub placement: Option<Placement>,
    /// Metric groups.
    pub metric_groups: Vec<MetricGroup>,
    /// Segmentation, if any.
    pub segmentation_type: Option<SegmentationType>,
    /// Country of a geo segmentation.
    pub country: Option<String>,
    /// Platform filter.
    pub platform: Option<String>,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct JobWire {
    #[serde(default, deserialize_with = "lenient_opt_id")]
    id: Option<String>,
    #[serde(default)]
    id_str: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_id")]
    account_id: Option<String>,
    status: JobStatus,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    entity: Option<StatsEntityType>,
    #[serde(default)]
    entity_ids: Vec<Id>,
    #[serde(default)]
    start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    end_time: Option<DateTime<Utc>>,
    #[serde(default)]
    granularity: Option<Granularity>,
    #[serde(default)]
    placement: Option<Placement>,
    #[serde(default)]
    metric_groups: Vec<MetricGroup>,
    #[serde(default)]
    segmentation_type: Option<SegmentationType>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Id(#[serde(deserialize_with = "lenient_id")] String);

impl<'de> Deserialize<'de> for StatsJob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Through a map: X's SDK fixture repeats `id` (string, then number), which a derived
        // struct refuses; a map keeps the last.
        let map = Map::<String, Value>::deserialize(d)?;
        let w = JobWire::deserialize(Value::Object(map)).map_err(serde::de::Error::custom)?;
        let id = w
            .id_str
            .filter(|s| !s.is_empty())
            .or(w.id)
            .ok_or_else(|| serde::de::Error::custom("a job without id"))?;
        Ok(StatsJob {
            id,
            account_id: w.account_id,
            status: w.status,
            url: w.url.filter(|u| !u.is_empty()),
            expires_at: w.expires_at,
            entity: w.entity,
            entity_ids: w.entity_ids.into_iter().map(|i| i.0).collect(),
            start_time: w.start_time,
            end_time: w.end_time,
            granularity: w.granularity,
            placement: w.placement,
            metric_groups: w.metric_groups,
            segmentation_type: w.segmentation_type,
            country: w.country,
            platform: w.platform,
            created_at: w.created_at,
            updated_at: w.updated_at,
        })
    }
}

/// X's `X-Concurrent-Job-Limit` and `X-Concurrent-Job-Limit-Remaining` (absent → `None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLimit {
    /// Jobs the account may have in processing.
    pub limit: Option<u64>,
    /// How many more it may submit now.
    pub remaining: Option<u64>,
}

/// A job call's answer: X's envelope and the concurrency headers.
#[derive(Clone, Debug)]
pub struct JobsResponse<T> {
    /// The decoded answer (`next_cursor` for polls).
    pub response: crate::XResponse<T>,
    /// The concurrency headers.
    pub job_limit: JobLimit,
}

/// A segment of a segmented result: `{segment_name, segment_value}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Segment {
    /// What X shows (`iOS`, `Age 25 to 34`, a metro's name, …).
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub segment_name: Option<String>,
    /// X's value for it (a targeting value or id).
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub segment_value: Option<String>,
}

/// One row of a result file: one entity's metrics for one segment (`None` = unsegmented).
#[derive(Clone, Debug, PartialEq)]
pub struct JobResultRow {
    /// The entity.
    pub entity_id: String,
    /// The segment, or `None` for an unsegmented job.
    pub segment: Option<Segment>,
    /// The metrics, as in a synchronous answer.
    pub metrics: Metrics,
}

/// What the result file says besides its rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobResultInfo {
    /// `stats`.
    pub data_type: Option<String>,
    /// Values per series.
    pub time_series_length: Option<u32>,
    /// X's echo of the job's parameters.
    pub request_params: Value,
    /// Entities in `data`.
    pub entities: u64,
    /// Rows produced.
    pub rows: u64,
    /// Whether the file came gzipped.
    pub gzipped: bool,
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn job(days: i64) -> StatsJobQuery {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        StatsJobQuery::new(StatsQuery {
            entity: StatsEntityType::Campaign,
            entity_ids: vec!["c1".into()],
            start_time: start,
            end_time: start + Duration::days(days),
            granularity: Granularity::Hour,
            placement: Placement::AllOnTwitter,
            metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
        })
    }

    #[test]
    fn spans_and_segmentation_rules() {
        assert_eq!(job(90).validate(), Ok(()));
        assert!(job(91).validate().unwrap_err().contains("90 days"));
        assert_eq!(
            job(45).segmented(SegmentationType::Platforms).validate(),
            Ok(())
        );
        assert!(
            job(46)
                .segmented(SegmentationType::Age)
                .validate()
                .unwrap_err()
                .contains("45 days")
        );
        assert!(
            job(7)
                .segmented(SegmentationType::Metros)
                .validate()
                .unwrap_err()
                .contains("country")
        );
        assert_eq!(
            job(7)
                .segmented(SegmentationType::Metros)
                .country("96683cc9126741d1")
                .validate(),
            Ok(())
        );
        assert!(
            job(7)
                .segmented(SegmentationType::ConversionTags)
                .validate()
                .unwrap_err()
                .contains("WEB_CONVERSION")
        );
        let mut tags = job(7).segmented(SegmentationType::ConversionTags);
        tags.stats.metric_groups = vec![MetricGroup::WebConversion];
        assert_eq!(tags.validate(), Ok(()));
        let mut many = job(7);
        many.stats.entity_ids = (0..21).map(|i| i.to_string()).collect();
        assert!(many.validate().unwrap_err().contains("1 to 20"));
    }

    #[test]
    fn job_params() {
        let q = job(1)
            .segmented(SegmentationType::Metros)
            .country("96683cc9126741d1");
        assert_eq!(
            q.to_params().encode(),
            "entity=CAMPAIGN&entity_ids=c1&start_time=2026-01-01T00%3A00%3A00Z&end_time=2026-01-02T00%3A00%3A00Z&granularity=HOUR&placement=ALL_ON_TWITTER&metric_groups=ENGAGEMENT%2CBILLING&segmentation_type=METROS&country=96683cc9126741d1"
        );
        let list = JobListQuery {
            job_ids: vec!["1".into(), "2".into()],
            count: Some(5),
            cursor: Some("c".into()),
        };
        assert_eq!(list.to_params().encode(), "job_ids=1%2C2&count=5&cursor=c");
        assert_eq!(list.validate(), Ok(()));
        assert!(
            JobListQuery::ids((0..201).map(|i| i.to_string()))
                .validate()
                .is_err()
        );
        let zero = JobListQuery {
            count: Some(0),
            ..JobListQuery::default()
        };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn statuses_are_open() {
        for s in [
            "QUEUED",
            "PROCESSING",
            "SUCCESS",
            "FAILED",
            "CANCELLED",
            "EXPIRED",
        ] {
            assert_eq!(JobStatus::parse(s).as_str(), s);
        }
        assert_eq!(
            JobStatus::parse("EXPIRED"),
            JobStatus::Other("EXPIRED".into())
        );
        assert!(JobStatus::Processing.is_pending());
        assert!(!JobStatus::Success.is_pending());
    }

    #[test]
    fn a_repeated_id_keeps_one() {
        let j: StatsJob = serde_json::from_str(
            r#"{"id":"111111111111111111","status":"PROCESSING","id":111111111111111111,"entity_ids":["a"]}"#,
        )
        .unwrap();
        assert_eq!(j.id, "111111111111111111");
        let j: StatsJob =
            serde_json::from_str(r#"{"id":5,"id_str":"6","status":"SUCCESS","url":""}"#).unwrap();
        assert_eq!(j.id, "6", "id_str wins");
        assert_eq!(j.url, None);
        assert!(serde_json::from_str::<StatsJob>(r#"{"status":"SUCCESS"}"#).is_err());
    }
}
