//! From X's stats response to stored rows: one row per entity, hour and placement that has data,
//! converted to USD with the rate of the row's date. Which metrics land in which column is the
//! client's metric table (`xads_client::vocab::METRICS`), not a list of ours. A nullable column
//! (installs) is known only where its group was asked: X sends every metric of every group
//! asked, so an absent key means "not asked" (null), a `null` one "asked, no data" (0).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use xads_client::models::{JobResultRow, MetricGroup, Metrics, StatsResponse};
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
    let sent = vocab::columns_sent(metrics);
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
        let mut values: Values = [None; COLUMNS.len()];
        for (c, v) in values.iter_mut().enumerate() {
            if sent[c] || !COLUMNS[c].nullable {
                *v = Some(at(&s[c], i).unwrap_or(0));
            }
        }
        if values.iter().all(|v| v.unwrap_or(0) == 0) {
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

/// Adds the rows of a companion call of the same entity type, placement and window into `rows`
/// (X wants MOBILE_CONVERSION in a call of its own; a MOBILE_CONVERSION job beside a segmented
/// one): values of the same entity and hour — and segment, for segment rows — add up (known
/// plus unknown is known), new ones become rows. The companion asked `groups` about `ids`:
/// their nullable columns of those groups become known (0) on every row of those entities,
/// also the hours the companion had no data for.
pub fn merge<R: Stored<N>, const N: usize>(
    rows: &mut Vec<R>,
    more: Vec<R>,
    ids: &[String],
    groups: &[MetricGroup],
) {
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
                    *sum = match (*sum, v) {
                        (None, None) => None,
                        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                    };
                }
            }
            None => {
                index.insert(k, rows.len());
                rows.push(r);
            }
        }
    }
    for r in rows
        .iter_mut()
        .filter(|r| ids.contains(&r.stat().entity_id))
    {
        for (c, v) in r.stat_mut().values.iter_mut().enumerate() {
            if COLUMNS[c].nullable && groups.contains(&COLUMNS[c].group) {
                v.get_or_insert(0);
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
    use crate::store::stats::{CLICKS, CONVERSIONS, IMPRESSIONS, INSTALLS, SPEND_LOCAL_MICRO};

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
        assert_eq!(row.values[IMPRESSIONS], Some(10));
        assert_eq!(row.values[CLICKS], Some(2));
        assert_eq!(row.values[CONVERSIONS], Some(1));
        assert_eq!(row.values[SPEND_LOCAL_MICRO], Some(3_000_000));
        assert_eq!(
            row.values[INSTALLS], None,
            "MOBILE_CONVERSION was not asked"
        );
        assert_eq!(row.spend_local_micro(), 3_000_000);
        assert_eq!(row.currency, "JPY");
        assert_eq!(
            row.hour,
            Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap()
        );
    }

    #[test]
    fn mobile_installs_merge_into_the_rows_of_the_same_call_apart_from_conversions() {
        let cur = HashMap::new();
        let c = call(&cur);
        let main_resp = r#"{"data_type":"stats","time_series_length":3,"data":[
            {"id":"c1","id_data":[{"segment":null,"metrics":{"impressions":[10,0,0],"conversion_purchases":{"metric":[1,0,0]}}}]},
            {"id":"c2","id_data":[{"segment":null,"metrics":{"impressions":[0,5,0],"conversion_purchases":null}}]},
            {"id":"web","id_data":[{"segment":null,"metrics":{"impressions":[7,0,0],"conversion_purchases":null}}]}]}"#;
        let mut main = rows(&c, &serde_json::from_str(main_resp).unwrap());
        assert!(main.iter().all(|r| r.values[INSTALLS].is_none()));
        let mobile = r#"{"data_type":"stats","time_series_length":3,"data":[
            {"id":"c1","id_data":[{"segment":null,"metrics":{
                "mobile_conversion_installs":{"post_view":[2,0,null],"post_engagement":[1,0,4],"assisted":[9,9,9]},
                "mobile_conversion_purchases":{"post_view":[5,5,5]}}}]},
            {"id":"c2","id_data":[{"segment":null,"metrics":{"mobile_conversion_installs":null}}]}]}"#;
        let more = rows(&c, &serde_json::from_str(mobile).unwrap());
        let asked = ["c1".to_owned(), "c2".to_owned()];
        merge(&mut main, more, &asked, &[MetricGroup::MobileConversion]);
        let get = |id: &str, h: i64| {
            main.iter()
                .find(|r| r.entity_id == id && r.hour == c.start + Duration::hours(h))
                .unwrap_or_else(|| panic!("{id} hour {h}"))
        };
        assert_eq!(
            main.len(),
            4,
            "c1 hours 0 and 2 (new), c2 hour 1, web hour 0"
        );
        // Installs are post-view + post-engagement; conversions stay the web purchases.
        assert_eq!(get("c1", 0).values[INSTALLS], Some(2 + 1));
        assert_eq!(get("c1", 0).values[CONVERSIONS], Some(1));
        assert_eq!(get("c1", 0).values[IMPRESSIONS], Some(10));
        assert_eq!(get("c1", 2).values[INSTALLS], Some(4));
        assert_eq!(get("c1", 2).values[IMPRESSIONS], Some(0));
        assert_eq!(get("c1", 2).currency, "EUR");
        // Asked, no installs: 0, not unknown. Not asked: unknown.
        assert_eq!(get("c2", 1).values[INSTALLS], Some(0));
        assert_eq!(get("web", 0).values[INSTALLS], None);
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
        assert_eq!(rows[0].row.values[IMPRESSIONS], Some(3));
        assert_eq!(rows[1].row.hour, c.start + Duration::hours(2));
        assert_eq!(rows[1].row.values[SPEND_LOCAL_MICRO], Some(2_000_000));
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
        merge(
            &mut main,
            mobile,
            &["c1".to_owned()],
            &[MetricGroup::MobileConversion],
        );
        let got: Vec<_> = main
            .iter()
            .map(|s| {
                (
                    s.segment_name.as_str(),
                    s.row.hour,
                    s.row.values[IMPRESSIONS],
                    s.row.values[CONVERSIONS],
                    s.row.values[INSTALLS],
                )
            })
            .collect();
        let h = |i| c.start + Duration::hours(i);
        assert_eq!(
            got,
            [
                ("iOS", h(0), Some(10), Some(1), Some(2 + 1)),
                // Asked, none in this hour: 0, not unknown.
                ("Android", h(0), Some(5), Some(0), Some(0)),
                ("Android", h(1), Some(0), Some(0), Some(3))
            ],
            "installs land in their own segment's hour, never another's, nor in conversions"
        );
    }
}
