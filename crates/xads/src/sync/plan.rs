//! The plan of one sync run: which calls to X it makes, decided from values alone — no database,
//! no X, no clock (the caller passes "now") — so every rule of X's that shapes the calls is
//! unit-tested here.
//!
//! A run is planned in two steps, because the second depends on X's answer to the first:
//! 1. [`window`] and [`activity_calls`]: the whole-hour window, and the `active_entities` calls
//!    that ask X what changed in it (≤ 90 days each; `CAMPAIGN`, plus `LINE_ITEM` for ≤ 200
//!    tracked campaigns per call);
//! 2. [`stats_calls`]: from what X called active, the stats calls — per entity type and
//!    placement, only the active ids, in batches of ≤ 20 (sorted by activity, so a batch's window
//!    stays tight), each batch's window split into ≤ 7 days of whole hours, `granularity=HOUR`;
//!    a batch holding app entities (campaigns and line items of an app objective, from the
//!    mirror) also gets a `MOBILE_CONVERSION` call of its own about those alone (installs).
//!
//! `sync::execute` performs the plan.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, DurationRound, Utc};
use xads_client::models::{
    ActiveEntitiesQuery, ActiveEntity, Granularity, MetricGroup, StatsEntityType, StatsQuery,
};
use xads_client::models::{MAX_JOB_SPAN_DAYS, MAX_SEGMENTED_JOB_SPAN_DAYS};
use xads_client::vocab::{Placement, SegmentationType};

use super::SyncError;
use crate::store::stats::Settings;

/// X revises spend for about 3 days: every run re-pulls at least this much.
pub const TRAILING: Duration = Duration::hours(72);
/// What the first run of an account pulls (one stats window per batch of ids).
pub const FIRST_BACKFILL: Duration = Duration::days(7);
/// The longest explicit backfill one run takes (it costs ⌈ids/20⌉ calls per 7 days).
pub const MAX_BACKFILL: Duration = Duration::days(366);
/// The longest gap a run catches up on by itself (longer backfills are asked for explicitly).
pub const MAX_CATCH_UP: Duration = Duration::days(90);
/// X's cap on ids per stats call.
pub const MAX_STATS_ENTITY_IDS: usize = 20;
/// X's cap on the span of one synchronous stats call, in days.
pub const MAX_STATS_SPAN_DAYS: i64 = 7;
/// X's cap on the span of one active-entities call, in days.
pub const MAX_ACTIVE_ENTITIES_SPAN_DAYS: i64 = 90;
/// X's cap on `campaign_ids` per active-entities call.
pub const MAX_ACTIVE_ENTITIES_CAMPAIGN_IDS: usize = 200;

/// `[from, to)` in whole hours.
pub type Window = (DateTime<Utc>, DateTime<Utc>);

/// Truncates to the start of the hour.
pub fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

/// Rounds up to a whole hour.
pub fn ceil_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let f = floor_hour(t);
    if f == t { t } else { f + Duration::hours(1) }
}

/// Splits `[from, to)` into consecutive windows of at most `max`.
pub fn split_window(from: DateTime<Utc>, to: DateTime<Utc>, max: Duration) -> Vec<Window> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        let end = (t + max).min(to);
        out.push((t, end));
        t = end;
    }
    out
}

/// Whether the run needs the account's last synced hour to choose its window (only when no
/// window was asked for).
pub fn needs_synced_until(explicit: Option<Window>) -> bool {
    explicit.is_none()
}

/// The window of a run, ending after the hour of `now`: the explicit one (a backfill: whole
/// hours, not in the future, ≤ [`MAX_BACKFILL`]); else from the hour before the last synced one
/// (at least the trailing 72 h, at most 90 days back); else, on the first run, 7 days.
pub fn window(
    now: DateTime<Utc>,
    explicit: Option<Window>,
    synced_until: Option<DateTime<Utc>>,
) -> Result<Window, SyncError> {
    let end = floor_hour(now) + Duration::hours(1);
    if let Some((from, to)) = explicit {
        let (from, to) = (floor_hour(from), ceil_hour(to).min(end));
        if from >= to {
            return Err(SyncError::Invalid(
                "the window is empty (from must be before to, and not in the future)".into(),
            ));
        }
        if to - from > MAX_BACKFILL {
            return Err(SyncError::Invalid(format!(
                "a backfill may span at most {} days; split it",
                MAX_BACKFILL.num_days()
            )));
        }
        return Ok((from, to));
    }
    let start = match synced_until {
        None => end - FIRST_BACKFILL,
        Some(until) => (floor_hour(until) - Duration::hours(1))
            .min(end - TRAILING)
            .max(end - MAX_CATCH_UP),
    };
    Ok((start, end))
}

/// The `active_entities` calls of one entity type (and campaign filter), whose answers are
/// merged into one set of active entities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityCalls {
    /// `CAMPAIGN`, or `LINE_ITEM` of the tracked campaigns in the queries.
    pub entity: StatsEntityType,
    /// One per ≤ 90 days of the window.
    pub queries: Vec<ActiveEntitiesQuery>,
}

/// What to ask X about activity in `window`: every campaign of the account, and the line items of
/// the `tracked` campaigns (sorted, distinct; ≤ 200 per call).
pub fn activity_calls(window: Window, tracked: &[String]) -> Vec<ActivityCalls> {
    let mut kinds: Vec<(StatsEntityType, Vec<String>)> = vec![(StatsEntityType::Campaign, vec![])];
    for chunk in tracked.chunks(MAX_ACTIVE_ENTITIES_CAMPAIGN_IDS) {
        kinds.push((StatsEntityType::LineItem, chunk.to_vec()));
    }
    kinds
        .into_iter()
        .map(|(entity, campaign_ids)| ActivityCalls {
            entity,
            queries: split_window(
                window.0,
                window.1,
                Duration::days(MAX_ACTIVE_ENTITIES_SPAN_DAYS),
            )
            .into_iter()
            .map(|(from, to)| {
                let mut q = ActiveEntitiesQuery::new(entity, from, to);
                q.campaign_ids = campaign_ids.clone();
                q
            })
            .collect(),
        })
        .collect()
}

/// The campaigns whose line items get stats: those tracked in the store and those the request
/// adds, sorted and distinct.
pub fn tracked_campaigns(mut stored: Vec<String>, requested: &[String]) -> Vec<String> {
    stored.extend(requested.iter().cloned());
    stored.sort();
    stored.dedup();
    stored
}

/// What `active_entities` said about one entity, over all calls of its [`ActivityCalls`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    /// Earliest changed time.
    pub start: DateTime<Utc>,
    /// Latest changed time.
    pub end: DateTime<Utc>,
    /// Placements concerned (empty: X named none, so every placement).
    pub placements: BTreeSet<String>,
}

/// The active entities of one [`ActivityCalls`], by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Active {
    /// Their entity type.
    pub entity: StatsEntityType,
    /// Id → merged activity.
    pub found: BTreeMap<String, Activity>,
}

impl Active {
    /// None yet.
    pub fn new(entity: StatsEntityType) -> Active {
        Active {
            entity,
            found: BTreeMap::new(),
        }
    }

    /// Merges one answer of X: per id, the widest span and every placement named.
    pub fn record(&mut self, data: &[ActiveEntity]) {
        for a in data {
            let e = self.found.entry(a.entity_id.clone()).or_insert(Activity {
                start: a.activity_start_time,
                end: a.activity_end_time,
                placements: BTreeSet::new(),
            });
            e.start = e.start.min(a.activity_start_time);
            e.end = e.end.max(a.activity_end_time);
            e.placements.extend(a.placements.iter().cloned());
        }
    }
}

/// One planned stats pull: its query, and when the batch holds app entities, the same query
/// about those alone with `MOBILE_CONVERSION` alone (X wants that group in a call of its own),
/// whose installs are merged into the first one's rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsCall {
    /// Engagement, billing and (when wanted) web conversions.
    pub query: StatsQuery,
    /// The mobile-conversion companion: the batch's app entities, when it has some.
    pub mobile: Option<StatsQuery>,
}

/// The metric groups of every stats call: engagement and billing, plus web conversions when the
/// account's settings ask for them.
pub fn metric_groups(settings: &Settings) -> Vec<MetricGroup> {
    let mut groups = vec![MetricGroup::Engagement, MetricGroup::Billing];
    if settings.conversions.contains(&MetricGroup::WebConversion) {
        groups.push(MetricGroup::WebConversion);
    }
    groups
}

/// The stats calls for what X called active, in the order they are made: per [`Active`] set, per
/// placement of the settings, batches of ≤ 20 ids sorted by (start, end, id) of their activity,
/// each batch from its earliest activity (which X may report before the window) or the start of
/// `window` if later (late spend is re-read even when X is slow to flag it) to its latest
/// activity, cut at the window's end, split into ≤ 7-day whole-hour windows. `apps` are the
/// account's app entities (campaigns and line items of objective `APP_INSTALLS` or
/// `APP_ENGAGEMENTS`): a call whose batch holds some gets its `MOBILE_CONVERSION` companion about
/// them, so an account without app campaigns makes none.
pub fn stats_calls(
    window: Window,
    active: &[Active],
    settings: &Settings,
    apps: &BTreeSet<String>,
) -> Vec<StatsCall> {
    let groups = metric_groups(settings);
    let mut calls = Vec::new();
    for set in active {
        // The settings hold X's placements only (the store skips any other stored name).
        for &pl in &settings.placements {
            let mut ids: Vec<(&String, &Activity)> = set
                .found
                .iter()
                .filter(|(_, a)| a.placements.is_empty() || a.placements.contains(pl.as_str()))
                .collect();
            ids.sort_by_key(|(id, a)| (a.start, a.end, (*id).clone()));
            for batch in ids.chunks(MAX_STATS_ENTITY_IDS) {
                let from = floor_hour(batch.iter().map(|(_, a)| a.start).min().unwrap_or(window.0));
                let to = ceil_hour(batch.iter().map(|(_, a)| a.end).max().unwrap_or(window.1))
                    .min(window.1);
                let from = from.min(window.0);
                let entity_ids: Vec<String> = batch.iter().map(|(id, _)| (*id).clone()).collect();
                let app_ids: Vec<String> = entity_ids
                    .iter()
                    .filter(|id| apps.contains(*id))
                    .cloned()
                    .collect();
                let span = Duration::days(MAX_STATS_SPAN_DAYS);
                calls.extend(hourly_calls(
                    set.entity,
                    &entity_ids,
                    (from, to),
                    pl,
                    &groups,
                    &app_ids,
                    span,
                ));
            }
        }
    }
    calls
}

/// The calls of one batch of ids over `window` in one placement: the window split into spans of
/// at most `span`, `granularity=HOUR`, each with its MOBILE_CONVERSION companion about
/// `app_ids` (the batch's app entities) when there are some. The synchronous sync uses 7-day
/// spans, a backfill's jobs 90 (45 segmented).
pub fn hourly_calls(
    entity: StatsEntityType,
    entity_ids: &[String],
    window: Window,
    placement: Placement,
    groups: &[MetricGroup],
    app_ids: &[String],
    span: Duration,
) -> Vec<StatsCall> {
    split_window(window.0, window.1, span)
        .into_iter()
        .map(|(f, t)| {
            let query = StatsQuery {
                entity,
                entity_ids: entity_ids.to_vec(),
                start_time: f,
                end_time: t,
                granularity: Granularity::Hour,
                placement,
                metric_groups: groups.to_vec(),
            };
            let mobile = (!app_ids.is_empty()).then(|| StatsQuery {
                entity_ids: app_ids.to_vec(),
                metric_groups: vec![MetricGroup::MobileConversion],
                ..query.clone()
            });
            StatsCall { query, mobile }
        })
        .collect()
}

/// X's cap on the span of one unsegmented job: 90 days of whole hours, i.e. 2 160 hours of UTC
/// time whatever the account's timezone (a span of 90 *local* days across the end of daylight
/// saving time holds 2 161 hours: two jobs).
pub const MAX_JOB_SPAN: Duration = Duration::hours(24 * MAX_JOB_SPAN_DAYS);
/// X's cap on the span of one segmented job: 45 days, 1 080 hours.
pub const MAX_SEGMENTED_JOB_SPAN: Duration = Duration::hours(24 * MAX_SEGMENTED_JOB_SPAN_DAYS);

/// The jobs of a backfill over `window` (whole hours): per entity type of `entities` (the
/// account's campaigns and line items from the mirror, sorted) and placement of the settings,
/// batches of ≤ 20 ids, each over consecutive spans of ≤ [`MAX_JOB_SPAN`] (≤
/// [`MAX_SEGMENTED_JOB_SPAN`] when `segment` is given), with the metric groups the hourly sync
/// asks ([`metric_groups`]) and MOBILE_CONVERSION in a job of its own about the batch's app
/// entities of `apps`, as [`stats_calls`] does — segmented too (its rows are merged per
/// segment), except for CONVERSION_TAGS, which X serves for WEB_CONVERSION alone (so that
/// segmentation asks WEB_CONVERSION and nothing else).
pub fn backfill_calls(
    window: Window,
    entities: &[(StatsEntityType, Vec<String>)],
    settings: &Settings,
    segment: Option<SegmentationType>,
    apps: &BTreeSet<String>,
) -> Vec<StatsCall> {
    let groups = match segment {
        Some(SegmentationType::ConversionTags) => vec![MetricGroup::WebConversion],
        _ => metric_groups(settings),
    };
    let span = if segment.is_some() {
        MAX_SEGMENTED_JOB_SPAN
    } else {
        MAX_JOB_SPAN
    };
    let installs = segment != Some(SegmentationType::ConversionTags);
    let mut calls = Vec::new();
    for (entity, ids) in entities {
        let mut ids = ids.clone();
        ids.sort();
        ids.dedup();
        for &pl in &settings.placements {
            for batch in ids.chunks(MAX_STATS_ENTITY_IDS) {
                let app_ids: Vec<String> = if installs {
                    batch
                        .iter()
                        .filter(|id| apps.contains(*id))
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                };
                calls.extend(hourly_calls(
                    *entity, batch, window, pl, &groups, &app_ids, span,
                ));
            }
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use xads_client::models::Placement;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn now() -> DateTime<Utc> {
        at("2026-05-20T10:30:00Z")
    }

    fn active(entity: StatsEntityType, items: &[(&str, &str, &str, &[&str])]) -> Active {
        let mut a = Active::new(entity);
        a.record(
            &items
                .iter()
                .map(|(id, from, to, placements)| ActiveEntity {
                    entity_id: (*id).to_owned(),
                    activity_start_time: at(from),
                    activity_end_time: at(to),
                    placements: placements.iter().map(|p| (*p).to_owned()).collect(),
                })
                .collect::<Vec<_>>(),
        );
        a
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i:03}")).collect()
    }

    /// Every query keeps X's rules: whole hours, ≤ 7 days, 1..=20 ids, inside the window.
    fn assert_x_rules(window: Window, calls: &[StatsCall]) {
        for c in calls {
            let q = &c.query;
            assert_eq!(q.start_time, floor_hour(q.start_time), "{q:?}");
            assert_eq!(q.end_time, floor_hour(q.end_time), "{q:?}");
            assert!(q.start_time < q.end_time, "{q:?}");
            assert!(q.end_time - q.start_time <= Duration::days(7), "{q:?}");
            assert!((1..=20).contains(&q.entity_ids.len()), "{q:?}");
            assert!(q.start_time >= window.0 && q.end_time <= window.1, "{q:?}");
            assert_eq!(q.granularity, Granularity::Hour);
        }
    }

    #[test]
    fn the_first_run_pulls_7_days_ending_after_the_current_hour() {
        let w = window(now(), None, None).unwrap();
        assert_eq!(w, (at("2026-05-13T11:00:00Z"), at("2026-05-20T11:00:00Z")));
        assert!(needs_synced_until(None));
    }

    #[test]
    fn a_later_run_pulls_the_trailing_72_hours_or_back_to_the_hour_before_the_last_synced() {
        // Synced an hour ago: the trailing 72 h (X still revises them).
        let w = window(now(), None, Some(at("2026-05-20T10:00:00Z"))).unwrap();
        assert_eq!(w, (at("2026-05-17T11:00:00Z"), at("2026-05-20T11:00:00Z")));
        // Last synced 5 days ago: back to the hour before it.
        let w = window(now(), None, Some(at("2026-05-15T06:20:00Z"))).unwrap();
        assert_eq!(w.0, at("2026-05-15T05:00:00Z"));
        // Half a year ago: at most 90 days are caught up by themselves.
        let w = window(now(), None, Some(at("2025-11-01T00:00:00Z"))).unwrap();
        assert_eq!(w.1 - w.0, MAX_CATCH_UP);
    }

    #[test]
    fn an_explicit_window_is_whole_hours_not_in_the_future_and_at_most_366_days() {
        let asked = (at("2026-05-01T08:45:00Z"), at("2026-06-30T00:00:00Z"));
        assert!(!needs_synced_until(Some(asked)));
        let w = window(now(), Some(asked), Some(at("2026-05-20T10:00:00Z"))).unwrap();
        assert_eq!(w, (at("2026-05-01T08:00:00Z"), at("2026-05-20T11:00:00Z")));
        let w = window(
            now(),
            Some((at("2026-05-19T00:10:00Z"), at("2026-05-19T01:10:00Z"))),
            None,
        )
        .unwrap();
        assert_eq!(w, (at("2026-05-19T00:00:00Z"), at("2026-05-19T02:00:00Z")));
        for bad in [
            (at("2026-05-19T00:00:00Z"), at("2026-05-18T00:00:00Z")),
            (at("2026-05-21T00:00:00Z"), at("2026-05-22T00:00:00Z")),
            (at("2025-01-01T00:00:00Z"), at("2026-05-01T00:00:00Z")),
        ] {
            assert!(matches!(
                window(now(), Some(bad), None),
                Err(SyncError::Invalid(_))
            ));
        }
    }

    #[test]
    fn activity_is_asked_per_90_days_for_campaigns_and_per_200_tracked_campaigns_for_line_items() {
        let w = (at("2026-01-01T00:00:00Z"), at("2026-05-01T00:00:00Z")); // 120 days
        let calls = activity_calls(w, &[]);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].entity, StatsEntityType::Campaign);
        let spans: Vec<_> = calls[0]
            .queries
            .iter()
            .map(|q| (q.start_time, q.end_time))
            .collect();
        assert_eq!(
            spans,
            vec![
                (w.0, w.0 + Duration::days(90)),
                (w.0 + Duration::days(90), w.1)
            ]
        );
        assert!(calls[0].queries.iter().all(|q| q.campaign_ids.is_empty()));

        let tracked = ids(201);
        let calls = activity_calls(w, &tracked);
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[1].entity, StatsEntityType::LineItem);
        assert_eq!(calls[1].queries[0].campaign_ids, tracked[..200].to_vec());
        assert_eq!(calls[2].queries[1].campaign_ids, tracked[200..].to_vec());
        assert_eq!(calls[2].queries.len(), 2);
    }

    #[test]
    fn tracked_campaigns_are_the_stored_and_the_requested_ones_sorted_and_distinct() {
        assert_eq!(
            tracked_campaigns(vec!["c2".into(), "c1".into()], &["c3".into(), "c1".into()]),
            vec!["c1", "c2", "c3"]
        );
    }

    #[test]
    fn activity_answers_merge_per_id_into_the_widest_span_and_every_placement() {
        let mut a = active(
            StatsEntityType::Campaign,
            &[(
                "c1",
                "2026-05-18T03:00:00Z",
                "2026-05-18T05:00:00Z",
                &["ALL_ON_TWITTER"],
            )],
        );
        a.record(&[ActiveEntity {
            entity_id: "c1".into(),
            activity_start_time: at("2026-05-17T01:00:00Z"),
            activity_end_time: at("2026-05-18T04:00:00Z"),
            placements: vec!["PUBLISHER_NETWORK".into()],
        }]);
        assert_eq!(
            a.found["c1"],
            Activity {
                start: at("2026-05-17T01:00:00Z"),
                end: at("2026-05-18T05:00:00Z"),
                placements: ["ALL_ON_TWITTER", "PUBLISHER_NETWORK"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
            }
        );
    }

    #[test]
    fn the_hourly_run_pulls_the_trailing_window_of_the_active_ids_in_one_call() {
        let w = window(now(), None, Some(at("2026-05-20T10:00:00Z"))).unwrap();
        let set = active(
            StatsEntityType::Campaign,
            &[
                ("c2", "2026-05-20T08:00:00Z", "2026-05-20T10:30:00Z", &[]),
                ("c1", "2026-05-19T08:00:00Z", "2026-05-19T09:00:00Z", &[]),
            ],
        );
        let calls = stats_calls(w, &[set], &Settings::default(), &BTreeSet::new());
        assert_x_rules(w, &calls);
        assert_eq!(calls.len(), 1);
        let q = &calls[0].query;
        // Widened back to the window's start, ended at the latest activity's whole hour.
        assert_eq!(
            (q.start_time, q.end_time),
            (w.0, at("2026-05-20T11:00:00Z"))
        );
        assert_eq!(q.entity_ids, vec!["c1", "c2"]);
        assert_eq!(q.entity, StatsEntityType::Campaign);
        assert_eq!(q.placement, Placement::AllOnTwitter);
        assert_eq!(
            q.metric_groups,
            vec![
                MetricGroup::Engagement,
                MetricGroup::Billing,
                MetricGroup::WebConversion
            ]
        );
        assert_eq!(calls[0].mobile, None);
    }

    #[test]
    fn activity_x_reports_before_the_window_is_pulled_from_its_start() {
        let w = window(now(), None, Some(at("2026-05-20T10:00:00Z"))).unwrap();
        let set = active(
            StatsEntityType::Campaign,
            &[("c1", "2026-05-16T09:15:20Z", "2026-05-20T09:59:59Z", &[])],
        );
        let calls = stats_calls(w, &[set], &Settings::default(), &BTreeSet::new());
        let spans: Vec<_> = calls
            .iter()
            .map(|c| (c.query.start_time, c.query.end_time))
            .collect();
        assert_eq!(
            spans,
            vec![(at("2026-05-16T09:00:00Z"), at("2026-05-20T10:00:00Z"))]
        );
    }

    #[test]
    fn a_backfill_longer_than_7_days_splits_into_7_day_calls() {
        let w = (at("2026-04-01T00:00:00Z"), at("2026-04-20T00:00:00Z")); // 19 days
        let set = active(
            StatsEntityType::Campaign,
            &[("c1", "2026-04-01T00:00:00Z", "2026-04-20T00:00:00Z", &[])],
        );
        let calls = stats_calls(w, &[set], &Settings::default(), &BTreeSet::new());
        assert_x_rules(w, &calls);
        let spans: Vec<_> = calls
            .iter()
            .map(|c| (c.query.start_time, c.query.end_time))
            .collect();
        assert_eq!(
            spans,
            vec![
                (at("2026-04-01T00:00:00Z"), at("2026-04-08T00:00:00Z")),
                (at("2026-04-08T00:00:00Z"), at("2026-04-15T00:00:00Z")),
                (at("2026-04-15T00:00:00Z"), at("2026-04-20T00:00:00Z")),
            ]
        );
    }

    #[test]
    fn more_than_20_active_ids_go_in_batches_of_20_sorted_by_activity() {
        let w = window(now(), None, None).unwrap();
        let items: Vec<(String, String)> = (0..45)
            .map(|i| {
                // Later ids became active earlier: the batches follow activity, not ids.
                let start = w.1 - Duration::hours(i + 1);
                (format!("c{i:03}"), start.to_rfc3339())
            })
            .collect();
        let rows: Vec<(&str, &str, &str, &[&str])> = items
            .iter()
            .map(|(id, start)| (id.as_str(), start.as_str(), "2026-05-20T10:00:00Z", &[][..]))
            .collect();
        let calls = stats_calls(
            w,
            &[active(StatsEntityType::Campaign, &rows)],
            &Settings::default(),
            &BTreeSet::new(),
        );
        assert_x_rules(w, &calls);
        let sizes: Vec<usize> = calls.iter().map(|c| c.query.entity_ids.len()).collect();
        assert_eq!(sizes, vec![20, 20, 5]);
        assert_eq!(calls[0].query.entity_ids[0], "c044");
        assert_eq!(calls[2].query.entity_ids.last().unwrap(), "c000");
        let all: BTreeSet<&String> = calls.iter().flat_map(|c| &c.query.entity_ids).collect();
        assert_eq!(all.len(), 45);
    }

    #[test]
    fn tracked_line_items_get_line_item_calls_after_the_campaigns() {
        let w = window(now(), None, Some(at("2026-05-20T10:00:00Z"))).unwrap();
        let campaigns = active(
            StatsEntityType::Campaign,
            &[("c1", "2026-05-20T08:00:00Z", "2026-05-20T09:00:00Z", &[])],
        );
        let line_items = active(
            StatsEntityType::LineItem,
            &[
                ("l1", "2026-05-20T08:00:00Z", "2026-05-20T09:00:00Z", &[]),
                ("l2", "2026-05-20T08:00:00Z", "2026-05-20T09:00:00Z", &[]),
            ],
        );
        let calls = stats_calls(
            w,
            &[campaigns, line_items],
            &Settings::default(),
            &BTreeSet::new(),
        );
        assert_x_rules(w, &calls);
        let kinds: Vec<_> = calls
            .iter()
            .map(|c| (c.query.entity, c.query.entity_ids.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (StatsEntityType::Campaign, vec!["c1".to_owned()]),
                (
                    StatsEntityType::LineItem,
                    vec!["l1".to_owned(), "l2".to_owned()]
                ),
            ]
        );
    }

    #[test]
    fn an_empty_active_set_plans_no_stats_call() {
        let w = window(now(), None, None).unwrap();
        assert!(stats_calls(w, &[], &Settings::default(), &BTreeSet::new()).is_empty());
        let none = [
            Active::new(StatsEntityType::Campaign),
            Active::new(StatsEntityType::LineItem),
        ];
        assert!(stats_calls(w, &none, &Settings::default(), &BTreeSet::new()).is_empty());
    }

    #[test]
    fn each_placement_gets_its_own_calls_with_only_the_ids_active_there() {
        let w = window(now(), None, Some(at("2026-05-20T10:00:00Z"))).unwrap();
        let set = active(
            StatsEntityType::Campaign,
            &[
                (
                    "c1",
                    "2026-05-20T08:00:00Z",
                    "2026-05-20T09:00:00Z",
                    &["ALL_ON_TWITTER"],
                ),
                (
                    "c2",
                    "2026-05-20T08:00:00Z",
                    "2026-05-20T09:00:00Z",
                    &["PUBLISHER_NETWORK"],
                ),
                ("c3", "2026-05-20T08:00:00Z", "2026-05-20T09:00:00Z", &[]),
            ],
        );
        let settings = Settings {
            placements: vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
            // A stored MOBILE_CONVERSION asks nothing: the mirror's app entities decide.
            conversions: vec![MetricGroup::MobileConversion],
        };
        let apps = BTreeSet::from(["c1".to_owned(), "elsewhere".to_owned()]);
        let calls = stats_calls(w, &[set], &settings, &apps);
        assert_x_rules(w, &calls);
        let by_placement: Vec<_> = calls
            .iter()
            .map(|c| (c.query.placement, c.query.entity_ids.clone()))
            .collect();
        assert_eq!(
            by_placement,
            vec![
                (Placement::AllOnTwitter, vec!["c1".into(), "c3".into()]),
                (Placement::PublisherNetwork, vec!["c2".into(), "c3".into()]),
            ]
        );
        for c in &calls {
            assert_eq!(
                c.query.metric_groups,
                vec![MetricGroup::Engagement, MetricGroup::Billing]
            );
        }
        // Installs: a companion of its own about the batch's app campaign alone; a batch with
        // none (the publisher network's) makes no MOBILE_CONVERSION call.
        let m = calls[0]
            .mobile
            .as_ref()
            .expect("a mobile-conversion companion");
        assert_eq!(m.metric_groups, vec![MetricGroup::MobileConversion]);
        assert_eq!(m.entity_ids, vec!["c1".to_owned()]);
        assert_eq!(
            (
                m.entity,
                m.start_time,
                m.end_time,
                m.placement,
                m.granularity
            ),
            (
                calls[0].query.entity,
                calls[0].query.start_time,
                calls[0].query.end_time,
                calls[0].query.placement,
                calls[0].query.granularity
            )
        );
        assert_eq!(calls[1].mobile, None);
        // Without app entities no call has a companion.
        let web = stats_calls(
            w,
            &[active(
                StatsEntityType::Campaign,
                &[("c2", "2026-05-20T08:00:00Z", "2026-05-20T09:00:00Z", &[])],
            )],
            &settings,
            &BTreeSet::new(),
        );
        assert!(web.iter().all(|c| c.mobile.is_none()));
    }

    #[test]
    fn backfill_jobs_keep_x_limits_of_90_days_45_segmented_and_20_ids() {
        let w = (at("2026-01-01T00:00:00Z"), at("2026-05-01T05:00:00Z"));
        let campaigns = ids(45);
        let line_items: Vec<String> = (0..3).map(|i| format!("l{i}")).collect();
        let entities = vec![
            (StatsEntityType::Campaign, campaigns.clone()),
            (StatsEntityType::LineItem, line_items),
        ];
        let settings = Settings {
            placements: vec![Placement::AllOnTwitter],
            conversions: vec![MetricGroup::WebConversion],
        };
        // Two app campaigns in the first batch, one app line item.
        let apps = BTreeSet::from([campaigns[0].clone(), campaigns[7].clone(), "l1".to_owned()]);
        for (segment, span, spans) in [(None, 90, 2), (Some(SegmentationType::Platforms), 45, 3)] {
            let calls = backfill_calls(w, &entities, &settings, segment, &apps);
            // Campaigns in 3 batches (20 + 20 + 5), line items in 1, each over `spans` spans.
            assert_eq!(calls.len(), 4 * spans, "{span}");
            for c in &calls {
                let q = &c.query;
                assert!((1..=20).contains(&q.entity_ids.len()));
                assert!(q.end_time - q.start_time <= Duration::days(span));
                assert_eq!(q.granularity, Granularity::Hour);
                assert_eq!(
                    q.metric_groups,
                    vec![
                        MetricGroup::Engagement,
                        MetricGroup::Billing,
                        MetricGroup::WebConversion
                    ]
                );
                // MOBILE_CONVERSION asked in a job of its own, over the batch's app entities
                // and the same hours, segmented or not (the job's segmentation is the
                // backfill's).
                let app_ids: Vec<String> = q
                    .entity_ids
                    .iter()
                    .filter(|id| apps.contains(*id))
                    .cloned()
                    .collect();
                let Some(m) = c.mobile.as_ref() else {
                    assert!(app_ids.is_empty(), "{q:?}");
                    continue;
                };
                assert_eq!(m.metric_groups, vec![MetricGroup::MobileConversion]);
                assert_eq!(
                    (&m.entity_ids, m.start_time, m.end_time),
                    (&app_ids, q.start_time, q.end_time)
                );
            }
            // Every campaign covers the whole window exactly once.
            for id in &campaigns {
                let mut spans: Vec<Window> = calls
                    .iter()
                    .filter(|c| c.query.entity_ids.contains(id))
                    .map(|c| (c.query.start_time, c.query.end_time))
                    .collect();
                spans.sort();
                assert_eq!(spans.first().unwrap().0, w.0);
                assert_eq!(spans.last().unwrap().1, w.1);
                assert!(spans.windows(2).all(|p| p[0].1 == p[1].0));
            }
        }
        let unsegmented = backfill_calls(w, &entities, &settings, None, &apps);
        assert_eq!(
            unsegmented.iter().filter(|c| c.mobile.is_some()).count(),
            2 * 2,
            "the first campaign batch and the line items, over two spans each"
        );
        let platforms = backfill_calls(
            w,
            &entities,
            &settings,
            Some(SegmentationType::Platforms),
            &apps,
        );
        assert_eq!(
            platforms.iter().filter(|c| c.mobile.is_some()).count(),
            2 * 3,
            "segmented: the same batches, over three 45-day spans each"
        );
        // Without app entities, no companion job.
        let plain = backfill_calls(w, &entities, &settings, None, &BTreeSet::new());
        assert!(plain.iter().all(|c| c.mobile.is_none()));
        // CONVERSION_TAGS: WEB_CONVERSION alone, as X wants.
        let tags = backfill_calls(
            w,
            &entities,
            &settings,
            Some(SegmentationType::ConversionTags),
            &apps,
        );
        assert!(
            tags.iter()
                .all(|c| c.query.metric_groups == [MetricGroup::WebConversion])
        );
        // … and no MOBILE_CONVERSION job: X segments by conversion tag for web conversions only.
        assert!(tags.iter().all(|c| c.mobile.is_none()));
    }

    /// `days` local days of `tz` ending at the local midnight starting `last + 1 day`, as UTC
    /// (what a `{from: date, to: date}` request covers).
    fn local_days(tz: chrono_tz::Tz, last: &str, days: i64) -> Window {
        use chrono::{NaiveDate, TimeZone};
        let last = NaiveDate::parse_from_str(last, "%Y-%m-%d").unwrap();
        let midnight = |d: NaiveDate| {
            tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
                .earliest()
                .unwrap()
                .to_utc()
        };
        (
            midnight(last - Duration::days(days - 1)),
            midnight(last + Duration::days(1)),
        )
    }

    fn batches_and_spans(calls: &[StatsCall]) -> (BTreeSet<Vec<String>>, Vec<Window>) {
        let batches = calls.iter().map(|c| c.query.entity_ids.clone()).collect();
        let mut spans: Vec<Window> = calls
            .iter()
            .map(|c| (c.query.start_time, c.query.end_time))
            .collect();
        spans.sort();
        spans.dedup();
        (batches, spans)
    }

    #[test]
    fn ninety_local_days_across_the_end_of_dst_hold_2161_hours_so_two_jobs_per_batch() {
        // The history bench's old window: 90 local days of an America/Los_Angeles account up
        // to 2026-12-05, across the end of daylight saving time (2026-11-01).
        let w = local_days(chrono_tz::America::Los_Angeles, "2026-12-05", 90);
        assert_eq!(w.1 - w.0, Duration::hours(2161));
        let entities = vec![(StatsEntityType::Campaign, ids(100))];
        let settings = Settings::default();
        let calls = backfill_calls(w, &entities, &settings, None, &BTreeSet::new());
        let (batches, spans) = batches_and_spans(&calls);
        assert_eq!(batches.len(), 5);
        // One hour more than X's cap: every batch needs a second job for its last hour.
        assert_eq!(calls.len(), 10);
        assert_eq!(
            spans,
            vec![
                (w.0, w.0 + Duration::hours(2160)),
                (w.1 - Duration::hours(1), w.1)
            ]
        );
        // The same local days in a timezone without DST (or of UTC) are 2 160 hours: one job.
        let utc = local_days(chrono_tz::UTC, "2026-12-05", 90);
        assert_eq!(utc.1 - utc.0, MAX_JOB_SPAN);
        assert_eq!(
            backfill_calls(utc, &entities, &settings, None, &BTreeSet::new()).len(),
            5
        );
    }

    #[test]
    fn the_connect_backfill_of_90_days_is_one_job_per_20_ids_and_entity_type_even_across_dst() {
        // What `backfill::on_connect` asks: 90 × 24 UTC hours ending after the current hour,
        // here across the end of daylight saving time in Los Angeles.
        let end = at("2026-12-06T17:00:00Z");
        let w = (end - Duration::days(90), end);
        assert_eq!(w.1 - w.0, Duration::hours(2160));
        let entities = vec![
            (StatsEntityType::Campaign, ids(100)),
            (
                StatsEntityType::LineItem,
                (0..45).map(|i| format!("l{i:03}")).collect(),
            ),
        ];
        let apps = BTreeSet::from(["c003".to_owned()]);
        let calls = backfill_calls(w, &entities, &Settings::default(), None, &apps);
        // ⌈100/20⌉ + ⌈45/20⌉ jobs, each the whole window, ≤ 20 ids.
        assert_eq!(calls.len(), 5 + 3);
        for c in &calls {
            assert_eq!((c.query.start_time, c.query.end_time), w);
            assert!((1..=20).contains(&c.query.entity_ids.len()));
        }
        let per_entity: Vec<usize> = [StatsEntityType::Campaign, StatsEntityType::LineItem]
            .iter()
            .map(|e| calls.iter().filter(|c| c.query.entity == *e).count())
            .collect();
        assert_eq!(per_entity, vec![5, 3]);
        // One hour longer is one hour too many for one job; segmented, 45 days a job.
        let longer = (w.0 - Duration::hours(1), w.1);
        assert_eq!(
            backfill_calls(longer, &entities, &Settings::default(), None, &apps).len(),
            2 * 8
        );
        let seg = backfill_calls(
            w,
            &entities,
            &Settings::default(),
            Some(SegmentationType::Age),
            &apps,
        );
        let (_, spans) = batches_and_spans(&seg);
        assert_eq!(
            spans,
            vec![
                (w.0, w.0 + MAX_SEGMENTED_JOB_SPAN),
                (w.0 + MAX_SEGMENTED_JOB_SPAN, w.1)
            ]
        );
        assert_eq!(seg.len(), 2 * 8);
        // The app campaign's batch asks installs in a job of its own, per span.
        assert_eq!(seg.iter().filter(|c| c.mobile.is_some()).count(), 2);
    }
}
