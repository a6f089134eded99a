//! From X's stats response to stored rows: one row per entity, hour and placement that has data,
//! converted to USD with the rate of the row's date. Which metrics land in which column is the
//! client's metric table (`xads_client::vocab::METRICS`), not a list of ours.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use xads_client::models::{JobResultRow, Metrics, StatsResponse};
use xads_client::vocab::{self, COLUMNS, Placement, SegmentationType, StatsEntityType};

use crate::store::fx_rates::RateSeries;
use crate::store::segments::SegmentRow;
use crate::store::stats::{StatRow, Stored, Values};

/// What a response is about: the call's parameters that the rows need.
#[derive(Clone, Debug)]
pub struct Call<'a> {
    /// The ad account.
    pub account_id: &'a str,
    /// `CAMPAIGN` or `LINE_ITEM`.
    pub entity: StatsEntityType,
    /// The placement asked for.
    pub placement: Placement,
    /// The first hour of the series.
    pub start: DateTime<Utc>,
    /// The currency of each entity; `fallback` for entities not in it.
    pub currencies: &'a HashMap<String, String>,
    /// The account's currency (or `XXX` when unknown).
    pub fallback: &'a str,
}

fn at(series: &Option<Vec<Option<i64>>>, i: usize) -> Option<i64> {
    series.as_ref().and_then(|s| s.get(i).copied().flatten())
}

/// The rows of an HOUR-granularity response. `null` series and hours where every stored metric
/// is zero or null are "no data" and give no row.
pub fn rows(call: &Call<'_>, resp: &StatsResponse) -> Vec<StatRow> {
    let mut out = Vec::new();
    for item in &resp.data {
        if let Some(d) = item.id_data.first() {
            out.extend(entity_rows(call, &item.id, &d.metrics));
        }
    }
    out
}

/// The rows of one entity's HOUR-granularity metrics (an item of a synchronous answer, or a row
/// of a job's result file), by the rules of [`rows`].
pub fn entity_rows<'a>(
    call: &'a Call<'_>,
    entity_id: &'a str,
    metrics: &Metrics,
) -> impl Iterator<Item = StatRow> + 'a {
    let s = vocab::column_series(metrics);
    let n = s
        .iter()
        .map(|x| x.as_ref().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    let currency = call
        .currencies
        .get(entity_id)
        .map_or(call.fallback, String::as_str);
    (0..n).filter_map(move |i| {
        let mut values: Values = [0; COLUMNS.len()];
        for (v, series) in values.iter_mut().zip(&s) {
            *v = at(series, i).unwrap_or(0);
        }
        if values.iter().all(|v| *v == 0) {
            return None;
        }
        Some(StatRow {
            account_id: call.account_id.to_owned(),
            entity: call.entity,
            entity_id: entity_id.to_owned(),
            hour: call.start + Duration::hours(i as i64),
            placement: call.placement,
            values,
            currency: currency.to_owned(),
            fx: None,
        })
    })
}

/// The segment rows of one row of a segmented HOUR-granularity job's result file (`call` is the
/// job's account, entity, placement and start; `segmentation` its `segmentation_type`), by the
/// rules of [`rows`]; not converted yet ([`convert`] them with `.map(|s| &mut s.row)`). A row
/// without a segment is no segment's and gives none; a segment X sends without a name or value
/// is stored with `""` there.
pub fn segment_rows(
    call: &Call<'_>,
    segmentation: SegmentationType,
    row: &JobResultRow,
) -> Vec<SegmentRow> {
    let Some(segment) = &row.segment else {
        return Vec::new();
    };
    entity_rows(call, &row.entity_id, &row.metrics)
        .map(|r| SegmentRow {
            segment_type: segmentation,
            segment_name: segment.segment_name.clone().unwrap_or_default(),
            segment_value: segment.segment_value.clone().unwrap_or_default(),
            row: r,
        })
        .collect()
}

/// Adds the rows of another response of the same call (X wants MOBILE_CONVERSION in a call of
/// its own) into `rows`: values of the same entity and hour — and segment, for segment rows —
/// add up, new ones become rows.
pub fn merge<R: Stored<N>, const N: usize>(rows: &mut Vec<R>, more: Vec<R>) {
    type Key<const N: usize> = (String, DateTime<Utc>, [String; N]);
    let key = |r: &R| -> Key<N> {
        (
            r.stat().entity_id.clone(),
            r.stat().hour,
            r.extra_key().map(str::to_owned),
        )
    };
    let mut index: HashMap<Key<N>, usize> =
        rows.iter().enumerate().map(|(i, r)| (key(r), i)).collect();
    for r in more {
        let k = key(&r);
        match index.get(&k) {
            Some(&at) => {
                for (sum, v) in rows[at].stat_mut().values.iter_mut().zip(r.stat().values) {
                    *sum += v;
                }
            }
            None => {
                index.insert(k, rows.len());
                rows.push(r);
            }
        }
    }
}

/// Converts every row with the rates of its currency.
pub fn convert<'r>(
    rows: impl IntoIterator<Item = &'r mut StatRow>,
    rates: &HashMap<String, RateSeries>,
) {
    for r in rows {
        let series = rates.get(&r.currency);
        r.convert(series);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::stats::{CLICKS, CONVERSIONS, IMPRESSIONS, SPEND_LOCAL_MICRO};

    fn resp(metrics: &str) -> StatsResponse {
        serde_json::from_str(&format!(
            r#"{{"data_type":"stats","time_series_length":3,"data":[{{"id":"c1","id_data":[{{"segment":null,"metrics":{metrics}}}]}}]}}"#
        ))
        .unwrap()
    }

    fn call(currencies: &HashMap<String, String>) -> Call<'_> {
        Call {
            account_id: "acct",
            entity: StatsEntityType::Campaign,
            placement: Placement::AllOnTwitter,
            start: Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap(),
            currencies,
            fallback: "EUR",
        }
    }

    #[test]
    fn rows_take_every_stored_metric_from_the_table_and_skip_empty_hours() {
        let cur = HashMap::from([("c1".to_owned(), "JPY".to_owned())]);
        let r = resp(
            r#"{"impressions":[10,0,null],"clicks":[2,0,null],"url_clicks":[7,7,7],"likes":null,
                "billed_charge_local_micro":[3000000,0,0],
                "conversion_purchases":{"metric":[1,0,null],"sale_amount":[9,9,9]}}"#,
        );
        let rows = rows(&call(&cur), &r);
        // Hour 1 is all zeros and hour 2 all nulls, whatever url_clicks (not stored) says.
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.values[IMPRESSIONS], 10);
        assert_eq!(row.values[CLICKS], 2);
        assert_eq!(row.values[CONVERSIONS], 1);
        assert_eq!(row.values[SPEND_LOCAL_MICRO], 3_000_000);
        assert_eq!(row.spend_local_micro(), 3_000_000);
        assert_eq!(row.currency, "JPY");
        assert_eq!(
            row.hour,
            Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap()
        );
    }

    #[test]
    fn mobile_installs_add_to_the_rows_of_the_same_call() {
        let cur = HashMap::new();
        let c = call(&cur);
        let mut main = rows(
            &c,
            &resp(r#"{"impressions":[10,0,0],"conversion_purchases":{"metric":[1,0,0]}}"#),
        );
        let mobile = resp(
            r#"{"mobile_conversion_installs":{"post_view":[2,0,null],"post_engagement":[1,0,4],"assisted":[9,9,9]},
                "mobile_conversion_purchases":{"post_view":[5,5,5]}}"#,
        );
        merge(&mut main, rows(&c, &mobile));
        assert_eq!(main.len(), 2, "hour 0 merged, hour 2 new, hour 1 empty");
        assert_eq!(main[0].values[CONVERSIONS], 1 + 2 + 1);
        assert_eq!(main[0].values[IMPRESSIONS], 10);
        assert_eq!(main[1].hour, c.start + Duration::hours(2));
        assert_eq!(main[1].values[CONVERSIONS], 4);
        assert_eq!(main[1].values[IMPRESSIONS], 0);
        assert_eq!(main[1].currency, "EUR");
    }

    #[test]
    fn segment_rows_carry_the_segment_and_the_rules_of_unsegmented_rows() {
        let cur = HashMap::from([("c1".to_owned(), "JPY".to_owned())]);
        let c = call(&cur);
        let row = JobResultRow {
            entity_id: "c1".into(),
            segment: Some(xads_client::models::Segment {
                segment_name: Some("iOS".into()),
                segment_value: Some("0".into()),
            }),
            metrics: serde_json::from_str(
                r#"{"impressions":[3,0,null],"billed_charge_local_micro":[0,0,2000000]}"#,
            )
            .unwrap(),
        };
        let rows = segment_rows(&c, SegmentationType::Platforms, &row);
        assert_eq!(rows.len(), 2, "the all-zero hour gives no row");
        assert_eq!(rows[0].segment_type, SegmentationType::Platforms);
        assert_eq!(
            (
                rows[0].segment_name.as_str(),
                rows[0].segment_value.as_str()
            ),
            ("iOS", "0")
        );
        assert_eq!(rows[0].row.values[IMPRESSIONS], 3);
        assert_eq!(rows[1].row.hour, c.start + Duration::hours(2));
        assert_eq!(rows[1].row.values[SPEND_LOCAL_MICRO], 2_000_000);
        assert_eq!(rows[1].row.currency, "JPY");
        // The rows are the unsegmented rows of the same metrics, with the segment beside them.
        let plain: Vec<StatRow> = entity_rows(&c, "c1", &row.metrics).collect();
        assert_eq!(
            rows.iter().map(|s| s.row.clone()).collect::<Vec<_>>(),
            plain
        );
        let unsegmented = JobResultRow {
            segment: None,
            ..row.clone()
        };
        assert!(segment_rows(&c, SegmentationType::Platforms, &unsegmented).is_empty());
        let nameless = JobResultRow {
            segment: Some(xads_client::models::Segment::default()),
            ..row
        };
        let r = segment_rows(&c, SegmentationType::Age, &nameless);
        assert_eq!(
            (r[0].segment_name.as_str(), r[0].segment_value.as_str()),
            ("", "")
        );
    }

    #[test]
    fn mobile_installs_add_to_the_segment_rows_of_the_same_segment() {
        let cur = HashMap::new();
        let c = call(&cur);
        let job_row = |name: &str, metrics: &str| JobResultRow {
            entity_id: "c1".into(),
            segment: Some(xads_client::models::Segment {
                segment_name: Some(name.into()),
                segment_value: Some(name.to_lowercase()),
            }),
            metrics: serde_json::from_str(metrics).unwrap(),
        };
        let ty = SegmentationType::Platforms;
        let mut main = segment_rows(
            &c,
            ty,
            &job_row(
                "iOS",
                r#"{"impressions":[10,0],"conversion_purchases":{"metric":[1,0]}}"#,
            ),
        );
        main.extend(segment_rows(
            &c,
            ty,
            &job_row("Android", r#"{"impressions":[5,0]}"#),
        ));
        let mut mobile = segment_rows(
            &c,
            ty,
            &job_row(
                "iOS",
                r#"{"mobile_conversion_installs":{"post_view":[2,0],"post_engagement":[1,0]}}"#,
            ),
        );
        mobile.extend(segment_rows(
            &c,
            ty,
            &job_row(
                "Android",
                r#"{"mobile_conversion_installs":{"post_view":[0,3],"post_engagement":[0,0]}}"#,
            ),
        ));
        merge(&mut main, mobile);
        let got: Vec<(&str, DateTime<Utc>, i64, i64)> = main
            .iter()
            .map(|s| {
                (
                    s.segment_name.as_str(),
                    s.row.hour,
                    s.row.values[IMPRESSIONS],
                    s.row.values[CONVERSIONS],
                )
            })
            .collect();
        let h = |i| c.start + Duration::hours(i);
        assert_eq!(
            got,
            [
                ("iOS", h(0), 10, 1 + 2 + 1),
                ("Android", h(0), 5, 0),
                ("Android", h(1), 0, 3)
            ],
            "installs land in their own segment's hour, never another's"
        );
    }
}
