//! From X's stats response to stored rows: one row per entity, hour and placement that has data,
//! converted to USD with the rate of the row's date.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use xads_client::models::{Metrics, StatsResponse};

use crate::store::fx_rates::Series;
use crate::store::stats::StatRow;

/// What a response is about: the call's parameters that the rows need.
#[derive(Clone, Debug)]
pub struct Call<'a> {
    /// The ad account.
    pub account_id: &'a str,
    /// `CAMPAIGN` or `LINE_ITEM`.
    pub entity: &'a str,
    /// The placement asked for.
    pub placement: &'a str,
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

/// Web purchases, as one series (X gives conversions as objects of series).
fn conversions(m: &Metrics) -> Option<Vec<Option<i64>>> {
    m.object_series("conversion_purchases", "metric")
}

/// Mobile installs (post-view plus post-engagement), from a MOBILE_CONVERSION response.
pub fn mobile_conversions(m: &Metrics) -> Option<Vec<Option<i64>>> {
    let view = m.object_series("mobile_conversion_installs", "post_view");
    let eng = m.object_series("mobile_conversion_installs", "post_engagement");
    match (view, eng) {
        (None, None) => None,
        (v, e) => {
            let n = v
                .as_ref()
                .map_or(0, Vec::len)
                .max(e.as_ref().map_or(0, Vec::len));
            Some(
                (0..n)
                    .map(|i| Some(at(&v, i).unwrap_or(0) + at(&e, i).unwrap_or(0)))
                    .collect(),
            )
        }
    }
}

/// The rows of an HOUR-granularity response. `null` series and hours where every metric is
/// zero or null are "no data" and give no row.
pub fn rows(call: &Call<'_>, resp: &StatsResponse) -> Vec<StatRow> {
    let mut out = Vec::new();
    for item in &resp.data {
        let Some(m) = item.id_data.first().map(|d| &d.metrics) else {
            continue;
        };
        let names = [
            "impressions",
            "clicks",
            "engagements",
            "retweets",
            "likes",
            "replies",
            "follows",
            "billed_engagements",
            "billed_charge_local_micro",
        ];
        let s: Vec<Option<Vec<Option<i64>>>> = names.iter().map(|n| m.count_series(n)).collect();
        let conv = conversions(m);
        let n = s
            .iter()
            .chain(std::iter::once(&conv))
            .map(|x| x.as_ref().map_or(0, Vec::len))
            .max()
            .unwrap_or(0);
        let currency = call
            .currencies
            .get(&item.id)
            .map_or(call.fallback, String::as_str);
        for i in 0..n {
            let v: Vec<Option<i64>> = s.iter().map(|x| at(x, i)).collect();
            let c = at(&conv, i);
            if v.iter()
                .chain(std::iter::once(&c))
                .all(|x| x.unwrap_or(0) == 0)
            {
                continue;
            }
            let g = |k: usize| v[k].unwrap_or(0);
            out.push(StatRow {
                account_id: call.account_id.to_owned(),
                entity: call.entity.to_owned(),
                entity_id: item.id.clone(),
                hour: call.start + Duration::hours(i as i64),
                placement: call.placement.to_owned(),
                impressions: g(0),
                clicks: g(1),
                engagements: g(2),
                retweets: g(3),
                likes: g(4),
                replies: g(5),
                follows: g(6),
                billed_engagements: g(7),
                conversions: c.unwrap_or(0),
                currency: currency.to_owned(),
                spend_local_micro: g(8),
                fx: None,
            });
        }
    }
    out
}

/// Converts every row with the rates of its currency.
pub fn convert(rows: &mut [StatRow], rates: &HashMap<String, Series>) {
    for r in rows {
        let series = rates.get(&r.currency);
        r.convert(series);
    }
}
