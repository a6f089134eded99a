//! Synchronous analytics and active entities (x-ads-api.md §5).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::lenient_id;
use crate::params::{Params, ToParams};

pub use crate::vocab::{Granularity, MetricGroup, Placement, StatsEntityType};

/// X's cap on `entity_ids` per stats call.
pub const MAX_STATS_ENTITY_IDS: usize = 20;
/// X's cap on the span of a synchronous stats call.
pub const MAX_STATS_SPAN_DAYS: i64 = 7;
/// X's cap on the span of an active-entities call.
pub const MAX_ACTIVE_ENTITIES_SPAN_DAYS: i64 = 90;

/// `GET /12/stats/accounts/:id` parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsQuery {
    /// Entity type.
    pub entity: StatsEntityType,
    /// 1..=20 ids (for ACCOUNT: the account id).
    pub entity_ids: Vec<String>,
    /// Inclusive, whole hour.
    pub start_time: DateTime<Utc>,
    /// Exclusive, whole hour, ≤ 7 days after start.
    pub end_time: DateTime<Utc>,
    /// Granularity.
    pub granularity: Granularity,
    /// One placement.
    pub placement: Placement,
    /// At least one group.
    pub metric_groups: Vec<MetricGroup>,
}

fn whole_hour(t: DateTime<Utc>) -> bool {
    t.minute() == 0 && t.second() == 0 && t.nanosecond() == 0
}

fn check_window(start: DateTime<Utc>, end: DateTime<Utc>, max_days: i64) -> Result<(), String> {
    if !whole_hour(start) || !whole_hour(end) {
        return Err("start_time and end_time must be whole hours".into());
    }
    if end <= start {
        return Err("end_time must be after start_time".into());
    }
    if end - start > Duration::days(max_days) {
        return Err(format!("the time range may span at most {max_days} days"));
    }
    Ok(())
}

impl StatsQuery {
    /// Checks X's documented rules, so a bad call fails here instead of costing a request.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_within(MAX_STATS_SPAN_DAYS)
    }

    /// [`Self::validate`] with another cap on the span (asynchronous jobs allow 90 or 45 days).
    pub(crate) fn validate_within(&self, max_days: i64) -> Result<(), String> {
        if self.entity_ids.is_empty() || self.entity_ids.len() > MAX_STATS_ENTITY_IDS {
            return Err(format!(
                "entity_ids must hold 1 to {MAX_STATS_ENTITY_IDS} ids, got {}",
                self.entity_ids.len()
            ));
        }
        if self.metric_groups.is_empty() {
            return Err("metric_groups must not be empty".into());
        }
        if self.metric_groups.contains(&MetricGroup::MobileConversion)
            && self.metric_groups.len() > 1
        {
            return Err("MOBILE_CONVERSION must be requested on its own".into());
        }
        let allowed: &[MetricGroup] = match self.entity {
            StatsEntityType::Account => &[MetricGroup::Engagement],
            StatsEntityType::FundingInstrument => &[MetricGroup::Engagement, MetricGroup::Billing],
            _ => &[],
        };
        if !allowed.is_empty()
            && let Some(bad) = self.metric_groups.iter().find(|g| !allowed.contains(g))
        {
            return Err(format!(
                "{} stats do not support {}",
                self.entity.as_str(),
                bad.as_str()
            ));
        }
        check_window(self.start_time, self.end_time, max_days)
    }
}

impl StatsQuery {
    /// For DAY granularity X wants both times at midnight in the account's time zone, using the
    /// UTC offset in effect today; the caller knows the zone and passes that offset.
    pub fn check_day_alignment(&self, offset_today: FixedOffset) -> Result<(), String> {
        if self.granularity != Granularity::Day {
            return Ok(());
        }
        for (name, t) in [("start_time", self.start_time), ("end_time", self.end_time)] {
            let local = t.with_timezone(&offset_today);
            if local.time() != chrono::NaiveTime::MIN {
                return Err(format!(
                    "{name} must be midnight in the account's time zone (UTC{offset_today}) for DAY granularity"
                ));
            }
        }
        Ok(())
    }
}

impl ToParams for StatsQuery {
    fn to_params(&self) -> Params {
        let groups: Vec<&str> = self.metric_groups.iter().map(|g| g.as_str()).collect();
        let mut p = Params::new();
        p.push("entity", self.entity.as_str())
            .list("entity_ids", &self.entity_ids)
            .time("start_time", Some(self.start_time))
            .time("end_time", Some(self.end_time))
            .push("granularity", self.granularity.as_str())
            .push("placement", self.placement.as_str())
            .list("metric_groups", &groups);
        p
    }
}

/// `GET /12/stats/accounts/:id/active_entities` parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveEntitiesQuery {
    /// Entity type (not ACCOUNT).
    pub entity: StatsEntityType,
    /// Whole hour.
    pub start_time: DateTime<Utc>,
    /// Whole hour, ≤ 90 days after start.
    pub end_time: DateTime<Utc>,
    /// Optional filter (exclusive with the others), ≤ 200.
    pub campaign_ids: Vec<String>,
    /// Optional filter (exclusive with the others), ≤ 200.
    pub funding_instrument_ids: Vec<String>,
    /// Optional filter (exclusive with the others), ≤ 200.
    pub line_item_ids: Vec<String>,
}

impl ActiveEntitiesQuery {
    /// An unfiltered query.
    pub fn new(
        entity: StatsEntityType,
        start_time: DateTime<Utc>,
        end_time: DateTime<Utc>,
    ) -> Self {
        ActiveEntitiesQuery {
            entity,
            start_time,
            end_time,
            campaign_ids: vec![],
            funding_instrument_ids: vec![],
            line_item_ids: vec![],
        }
    }

    /// Checks X's documented rules.
    pub fn validate(&self) -> Result<(), String> {
        if self.entity == StatsEntityType::Account {
            return Err("active_entities does not take entity ACCOUNT".into());
        }
        let filters = [
            &self.campaign_ids,
            &self.funding_instrument_ids,
            &self.line_item_ids,
        ];
        if filters.iter().filter(|f| !f.is_empty()).count() > 1 {
            return Err(
                "campaign_ids, funding_instrument_ids and line_item_ids are mutually exclusive"
                    .into(),
            );
        }
        if filters.iter().any(|f| f.len() > 200) {
            return Err("at most 200 ids per filter".into());
        }
        check_window(
            self.start_time,
            self.end_time,
            MAX_ACTIVE_ENTITIES_SPAN_DAYS,
        )
    }
}

impl ToParams for ActiveEntitiesQuery {
    fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("entity", self.entity.as_str())
            .time("start_time", Some(self.start_time))
            .time("end_time", Some(self.end_time))
            .list("campaign_ids", &self.campaign_ids)
            .list("funding_instrument_ids", &self.funding_instrument_ids)
            .list("line_item_ids", &self.line_item_ids);
        p
    }
}

/// A synchronous stats response (also the content of an async job's result file).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct StatsResponse {
    /// `stats`.
    #[serde(default)]
    pub data_type: Option<String>,
    /// Values per series: 1 for TOTAL, hours for HOUR, days for DAY.
    #[serde(default)]
    pub time_series_length: Option<u32>,
    /// One item per entity id.
    #[serde(default)]
    pub data: Vec<StatsEntity>,
    /// X's `request` echo, untyped.
    #[serde(default)]
    pub request: Value,
}

/// The stats of one entity.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct StatsEntity {
    /// The entity id.
    #[serde(deserialize_with = "lenient_id")]
    pub id: String,
    /// One item per segment (one with `segment: null` when not segmented).
    #[serde(default)]
    pub id_data: Vec<IdData>,
}

/// The metrics of one segment.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct IdData {
    /// `null`, or `{segment_name, segment_value}`.
    #[serde(default)]
    pub segment: Option<Value>,
    /// The metrics.
    #[serde(default)]
    pub metrics: Metrics,
}

/// Every metric X sent, by name. A value of `null` means "no data" (not zero).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Metrics(pub BTreeMap<String, Value>);

fn series(v: &Value) -> Option<Vec<Option<i64>>> {
    match v {
        Value::Array(items) => Some(
            items
                .iter()
                .map(|x| match x {
                    Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

impl Metrics {
    /// The raw value of a metric.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// True when X sent the metric key (even as `null`).
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A count metric's series (`impressions`, `billed_charge_local_micro`, ...). `None` when the
    /// metric is absent or `null` (no data); inner `None` for a `null` element.
    pub fn count_series(&self, name: &str) -> Option<Vec<Option<i64>>> {
        series(self.0.get(name)?)
    }

    /// A field of an object-valued metric, e.g. `("conversion_purchases", "metric")`.
    pub fn object_series(&self, name: &str, field: &str) -> Option<Vec<Option<i64>>> {
        series(self.0.get(name)?.get(field)?)
    }

    /// Sum of a count metric over the series (nulls count as 0); `None` when there is no data.
    pub fn total(&self, name: &str) -> Option<i64> {
        self.count_series(name)
            .map(|s| s.into_iter().map(|v| v.unwrap_or(0)).sum())
    }

    /// Metric names present.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// One item of `active_entities`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct ActiveEntity {
    /// The entity whose metrics changed.
    #[serde(deserialize_with = "lenient_id")]
    pub entity_id: String,
    /// Earliest time the change applies to.
    pub activity_start_time: DateTime<Utc>,
    /// Latest time the change applies to.
    pub activity_end_time: DateTime<Utc>,
    /// Placements concerned.
    #[serde(default)]
    pub placements: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn query() -> StatsQuery {
        StatsQuery {
            entity: StatsEntityType::Campaign,
            entity_ids: vec!["8wku2".into()],
            start_time: Utc.with_ymd_and_hms(2026, 5, 19, 7, 0, 0).unwrap(),
            end_time: Utc.with_ymd_and_hms(2026, 5, 26, 7, 0, 0).unwrap(),
            granularity: Granularity::Day,
            placement: Placement::AllOnTwitter,
            metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
        }
    }

    #[test]
    fn stats_rules() {
        assert_eq!(query().validate(), Ok(()));
        let mut q = query();
        q.entity_ids = (0..21).map(|i| i.to_string()).collect();
        assert!(q.validate().unwrap_err().contains("1 to 20"));
        let mut q = query();
        q.start_time += Duration::minutes(30);
        assert!(q.validate().unwrap_err().contains("whole hours"));
        let mut q = query();
        q.end_time += Duration::hours(1);
        assert!(q.validate().unwrap_err().contains("7 days"));
        let mut q = query();
        q.end_time = q.start_time;
        assert!(q.validate().is_err());
        let mut q = query();
        q.metric_groups.clear();
        assert!(q.validate().is_err());
        let mut q = query();
        q.metric_groups.push(MetricGroup::MobileConversion);
        assert!(q.validate().unwrap_err().contains("MOBILE_CONVERSION"));
        let mut q = query();
        q.entity = StatsEntityType::Account;
        assert!(q.validate().unwrap_err().contains("BILLING"));
    }

    #[test]
    fn day_granularity_needs_local_midnights() {
        // 07:00Z is midnight in Los Angeles in summer (UTC-7), not in Tokyo.
        let la = FixedOffset::west_opt(7 * 3600).unwrap();
        let tokyo = FixedOffset::east_opt(9 * 3600).unwrap();
        assert_eq!(query().check_day_alignment(la), Ok(()));
        assert!(
            query()
                .check_day_alignment(tokyo)
                .unwrap_err()
                .contains("midnight")
        );
        let mut q = query();
        q.granularity = Granularity::Hour;
        assert_eq!(q.check_day_alignment(tokyo), Ok(()));
    }

    #[test]
    fn stats_params() {
        assert_eq!(
            query().to_params().encode(),
            "entity=CAMPAIGN&entity_ids=8wku2&start_time=2026-05-19T07%3A00%3A00Z&end_time=2026-05-26T07%3A00%3A00Z&granularity=DAY&placement=ALL_ON_TWITTER&metric_groups=ENGAGEMENT%2CBILLING"
        );
    }

    #[test]
    fn active_entities_filters_are_exclusive() {
        let start = Utc.with_ymd_and_hms(2026, 2, 28, 8, 0, 0).unwrap();
        let mut q =
            ActiveEntitiesQuery::new(StatsEntityType::Campaign, start, start + Duration::days(1));
        assert_eq!(q.validate(), Ok(()));
        q.campaign_ids = vec!["a".into()];
        q.line_item_ids = vec!["b".into()];
        assert!(q.validate().unwrap_err().contains("mutually exclusive"));
    }

    #[test]
    fn metrics_accessors() {
        let m: Metrics = serde_json::from_str(
            r#"{"impressions":[1,null,3],"likes":null,"conversion_purchases":{"metric":[2,0],"sale_amount":[100,null]}}"#,
        )
        .unwrap();
        assert_eq!(
            m.count_series("impressions"),
            Some(vec![Some(1), None, Some(3)])
        );
        assert_eq!(m.total("impressions"), Some(4));
        assert_eq!(m.count_series("likes"), None);
        assert!(m.has("likes"));
        assert_eq!(m.count_series("follows"), None);
        assert!(!m.has("follows"));
        assert_eq!(
            m.object_series("conversion_purchases", "sale_amount"),
            Some(vec![Some(100), None])
        );
    }
}
