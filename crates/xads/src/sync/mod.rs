//! The metrics sync (PRODUCT.md §4.7): per ad account, hourly and on demand.
//!
//! One run: refresh the entity mirror (how changes made in X Ads Manager are noticed) →
//! `active_entities` for the window (what changed) → stats calls for only those entities, ≤ 20 ids,
//! ≤ 7 days, whole hours, one placement each → rows converted to USD → upsert on (tenant, account,
//! entity, entity_id, hour, placement) → run and health recorded. Every run re-pulls at least the
//! trailing 72 h, where X still revises data.

pub mod cli;
pub mod ingest;
pub mod scheduler;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, DurationRound, Utc};
use xads_client::models::{
    ActiveEntitiesQuery, Granularity, MetricGroup, Placement, StatsEntityType, StatsQuery,
};

use crate::manage::{ManageError, Scope, mirror};
use crate::services::Services;
use crate::store::entities::Kind;
use crate::store::stats::{self as stats_store, StatRow};
use crate::store::sync_runs::{self, Counts, SyncTarget, Trigger};
use crate::store::{connections, fx_rates, tenants};
use crate::x::{XSession, XSessionError};

/// X revises spend for about 3 days: every run re-pulls at least this much.
pub const TRAILING: Duration = Duration::hours(72);
/// What the first run of an account pulls (one stats window per batch of ids).
pub const FIRST_BACKFILL: Duration = Duration::days(7);
/// The longest explicit backfill one run takes (it costs ⌈ids/20⌉ calls per 7 days).
pub const MAX_BACKFILL: Duration = Duration::days(366);
/// The longest gap a run catches up on by itself (longer backfills are asked for explicitly).
pub const MAX_CATCH_UP: Duration = Duration::days(90);
/// X's cap on ids per stats call.
const MAX_STATS_ENTITY_IDS: usize = 20;
/// X's cap on the span of one synchronous stats call, in days.
const MAX_STATS_SPAN_DAYS: i64 = 7;
/// X's cap on the span of one active-entities call, in days.
const MAX_ACTIVE_ENTITIES_SPAN_DAYS: i64 = 90;
/// Rows older than this are final (non-spend metrics settle after 24 h, spend after ~3 days).
pub const FINAL_AFTER: Duration = Duration::hours(72);

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The tenant or account is unknown.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The requested window is unusable.
    #[error("{0}")]
    Invalid(String),
    /// No session with X, or X refused.
    #[error(transparent)]
    Session(#[from] XSessionError),
    /// The mirror refresh failed.
    #[error("entity refresh: {0}")]
    Mirror(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<ManageError> for SyncError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Session(s) => SyncError::Session(s),
            ManageError::Db(d) => SyncError::Db(d),
            other => SyncError::Mirror(other.to_string()),
        }
    }
}

/// Where a long run reports its progress (the CLI draws a bar; the server logs nothing).
pub trait Progress: Send + Sync {
    /// `done` of `total` steps are complete; `what` names the current one.
    fn step(&self, done: u64, total: u64, what: &str);
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn step(&self, _: u64, _: u64, _: &str) {}
}

/// What to sync beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// An explicit window (a backfill); `None` = trailing 72 h, or since the last synced hour.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Also pull `LINE_ITEM` stats for the line items of these campaigns (on top of those tracked
    /// with [`stats_store::track_line_items`]).
    pub line_item_campaigns: Vec<String>,
}

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
pub fn split_window(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: Duration,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        let end = (t + max).min(to);
        out.push((t, end));
        t = end;
    }
    out
}

/// Records a new run and returns its id (the API answers it before the run is done).
pub async fn begin(
    state: &Services,
    target: &SyncTarget,
    trigger: Trigger,
) -> Result<String, SyncError> {
    let id = crate::store::new_id("syn");
    sync_runs::start_run(&state.db, &id, target, trigger, state.clock.now()).await?;
    Ok(id)
}

/// Runs a begun sync to the end and records its outcome and the account's health.
pub async fn execute(
    state: &Services,
    run_id: &str,
    target: &SyncTarget,
    request: &Request,
    progress: &dyn Progress,
) -> Result<Counts, SyncError> {
    let mut counts = Counts::default();
    let mut window = None;
    let result = run_inner(state, target, request, progress, &mut counts, &mut window).await;
    let error = result.as_ref().err().map(ToString::to_string);
    if let Some(e) = &error {
        tracing::warn!(tenant.id = %target.tenant_id, ad_account.id = %target.account_id, sync.id = run_id, error = %e, "sync failed");
    } else {
        tracing::info!(
            tenant.id = %target.tenant_id, ad_account.id = %target.account_id, sync.id = run_id,
            x_calls = counts.x_calls, active = counts.active_entities, rows = counts.rows_upserted,
            "sync succeeded"
        );
    }
    sync_runs::finish_run(
        &state.db,
        run_id,
        target,
        window,
        counts,
        error.as_deref(),
        state.clock.now(),
    )
    .await?;
    result.map(|()| counts)
}

/// Begins and executes a sync in one go.
pub async fn run(
    state: &Services,
    target: &SyncTarget,
    trigger: Trigger,
    request: &Request,
    progress: &dyn Progress,
) -> Result<(String, Counts), SyncError> {
    let id = begin(state, target, trigger).await?;
    let counts = execute(state, &id, target, request, progress).await?;
    Ok((id, counts))
}

/// The window of a run: explicit, or from the last synced hour (at least the trailing 72 h,
/// at most 90 days back), or the first backfill; always whole hours, ending after the current hour.
async fn window_for(
    state: &Services,
    target: &SyncTarget,
    request: &Request,
) -> Result<(DateTime<Utc>, DateTime<Utc>), SyncError> {
    let end = floor_hour(state.clock.now()) + Duration::hours(1);
    if let Some((from, to)) = request.window {
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
    let health = sync_runs::health(&state.db, &target.tenant_id, &target.account_id).await?;
    let start = match health.synced_until {
        None => end - FIRST_BACKFILL,
        Some(until) => (floor_hour(until) - Duration::hours(1))
            .min(end - TRAILING)
            .max(end - MAX_CATCH_UP),
    };
    Ok((start, end))
}

/// What `active_entities` said about one entity.
#[derive(Clone, Debug)]
struct Activity {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    placements: BTreeSet<String>,
}

fn placement(p: &str) -> Option<Placement> {
    Some(match p {
        "ALL_ON_TWITTER" => Placement::AllOnTwitter,
        "PUBLISHER_NETWORK" => Placement::PublisherNetwork,
        "SPOTLIGHT" => Placement::Spotlight,
        "TREND" => Placement::Trend,
        _ => return None,
    })
}

async fn run_inner(
    state: &Services,
    target: &SyncTarget,
    request: &Request,
    progress: &dyn Progress,
    counts: &mut Counts,
    window_out: &mut Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<(), SyncError> {
    let db = &state.db;
    let tenant = tenants::get(db, &target.tenant_id)
        .await?
        .ok_or(SyncError::NotFound("tenant"))?;
    let account = connections::ad_account(db, &target.tenant_id, &target.account_id)
        .await?
        .ok_or(SyncError::NotFound("ad account"))?;
    let session = XSession::for_tenant(state, &tenant.id).await?;
    let scope = Scope {
        state: state.clone(),
        tenant,
        account_id: account.id.clone(),
        idem_key: None,
    };
    let window = window_for(state, target, request).await?;
    *window_out = Some(window);

    // 1. Entities first: state changes made in X Ads Manager reach the mirror here.
    progress.step(0, 3, "refreshing campaigns, line items and promoted tweets");
    for kind in [Kind::Campaign, Kind::LineItem, Kind::PromotedTweet] {
        let n = mirror::refresh(&scope, &session, kind).await?;
        counts.entities += n as i64;
        // The mirror lists with count=1000 and follows cursors: one call per 1000 entities.
        counts.x_calls += ((n as i64 + 999) / 1000).max(1);
    }
    let currencies = stats_store::entity_currencies(db, &target.tenant_id, &account.id).await?;
    let settings = stats_store::settings(db, &target.tenant_id, &account.id).await?;
    let mut detail = stats_store::line_item_campaigns(db, &target.tenant_id, &account.id).await?;
    detail.extend(request.line_item_campaigns.iter().cloned());
    detail.sort();
    detail.dedup();

    // 2. What changed: one active_entities call per 90 days (plus one per 200 tracked campaigns
    // for their line items).
    progress.step(1, 3, "asking X which entities changed");
    let mut kinds: Vec<(StatsEntityType, Vec<String>)> = vec![(StatsEntityType::Campaign, vec![])];
    for chunk in detail.chunks(200) {
        kinds.push((StatsEntityType::LineItem, chunk.to_vec()));
    }
    let mut active: Vec<(StatsEntityType, BTreeMap<String, Activity>)> = Vec::new();
    for (entity, campaign_ids) in kinds {
        let mut found: BTreeMap<String, Activity> = BTreeMap::new();
        for (from, to) in split_window(
            window.0,
            window.1,
            Duration::days(MAX_ACTIVE_ENTITIES_SPAN_DAYS),
        ) {
            let mut q = ActiveEntitiesQuery::new(entity, from, to);
            q.campaign_ids = campaign_ids.clone();
            let acct = account.id.clone();
            let resp = session
                .call(|x| {
                    let (q, acct) = (q.clone(), acct.clone());
                    async move { x.active_entities(&acct, &q).await }
                })
                .await?;
            counts.x_calls += 1;
            for a in resp.data {
                let e = found.entry(a.entity_id.clone()).or_insert(Activity {
                    start: a.activity_start_time,
                    end: a.activity_end_time,
                    placements: BTreeSet::new(),
                });
                e.start = e.start.min(a.activity_start_time);
                e.end = e.end.max(a.activity_end_time);
                e.placements.extend(a.placements);
            }
        }
        counts.active_entities += found.len() as i64;
        active.push((entity, found));
    }

    // 3. Stats for only those entities: per entity type and placement, ids in batches of 20
    // (sorted by activity so a batch's window stays tight), each batch's window split in 7 days.
    let mut groups = vec![MetricGroup::Engagement, MetricGroup::Billing];
    if settings.conversions.iter().any(|c| c == "WEB_CONVERSION") {
        groups.push(MetricGroup::WebConversion);
    }
    let mobile = settings
        .conversions
        .iter()
        .any(|c| c == "MOBILE_CONVERSION");
    let mut plan = Vec::new();
    for (entity, found) in &active {
        for p in &settings.placements {
            let Some(pl) = placement(p) else { continue };
            let mut ids: Vec<(&String, &Activity)> = found
                .iter()
                .filter(|(_, a)| a.placements.is_empty() || a.placements.contains(p))
                .collect();
            ids.sort_by_key(|(id, a)| (a.start, a.end, (*id).clone()));
            for batch in ids.chunks(MAX_STATS_ENTITY_IDS) {
                let from = floor_hour(batch.iter().map(|(_, a)| a.start).min().unwrap_or(window.0));
                let to = ceil_hour(batch.iter().map(|(_, a)| a.end).max().unwrap_or(window.1))
                    .min(window.1);
                // Re-pull the whole trailing window: X's active_entities reports when metrics
                // change, and late spend must be re-read even when X is slow to flag it.
                let from = from.min(window.0);
                for (f, t) in split_window(from, to, Duration::days(MAX_STATS_SPAN_DAYS)) {
                    plan.push((
                        *entity,
                        pl,
                        batch
                            .iter()
                            .map(|(id, _)| (*id).clone())
                            .collect::<Vec<_>>(),
                        f,
                        t,
                    ));
                }
            }
        }
    }
    let total = 2 + plan.len() as u64;
    let fallback = account.currency.clone().unwrap_or_else(|| "XXX".into());
    let mut wanted: Vec<String> = currencies.values().cloned().collect();
    wanted.push(fallback.clone());
    wanted.sort();
    wanted.dedup();
    let rates = fx_rates::series_for(db, &wanted).await?;
    for (i, (entity, pl, ids, from, to)) in plan.into_iter().enumerate() {
        progress.step(
            2 + i as u64,
            total,
            &format!(
                "{} stats {} → {}",
                entity.as_str(),
                from.format("%Y-%m-%d %H:00"),
                to.format("%Y-%m-%d %H:00")
            ),
        );
        let query = StatsQuery {
            entity,
            entity_ids: ids,
            start_time: from,
            end_time: to,
            granularity: Granularity::Hour,
            placement: pl,
            metric_groups: groups.clone(),
        };
        let resp = stats_call(&session, &account.id, &query).await?;
        counts.x_calls += 1;
        let call = ingest::Call {
            account_id: &account.id,
            entity: entity.as_str(),
            placement: pl.as_str(),
            start: from,
            currencies: &currencies,
            fallback: &fallback,
        };
        let mut rows = ingest::rows(&call, &resp);
        if mobile {
            let mut q = query.clone();
            q.metric_groups = vec![MetricGroup::MobileConversion];
            let m = stats_call(&session, &account.id, &q).await?;
            counts.x_calls += 1;
            add_mobile(&mut rows, &call, &m);
        }
        ingest::convert(&mut rows, &rates);
        counts.rows_upserted +=
            stats_store::upsert(db, &target.tenant_id, &rows, state.clock.now()).await? as i64;
    }
    progress.step(total, total, "done");
    Ok(())
}

async fn stats_call(
    session: &XSession,
    account_id: &str,
    query: &StatsQuery,
) -> Result<xads_client::models::StatsResponse, SyncError> {
    let acct = account_id.to_owned();
    Ok(session
        .call(|x| {
            let (q, acct) = (query.clone(), acct.clone());
            async move { x.stats(&acct, &q).await }
        })
        .await?
        .data)
}

/// Adds mobile installs to the rows of the same call (creating rows for hours that had only
/// mobile conversions).
fn add_mobile(
    rows: &mut Vec<StatRow>,
    call: &ingest::Call<'_>,
    resp: &xads_client::models::StatsResponse,
) {
    let mut index: HashMap<(String, DateTime<Utc>), usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.entity_id.clone(), r.hour), i))
        .collect();
    for item in &resp.data {
        let Some(series) = item
            .id_data
            .first()
            .and_then(|d| ingest::mobile_conversions(&d.metrics))
        else {
            continue;
        };
        for (i, v) in series.into_iter().enumerate() {
            let v = v.unwrap_or(0);
            if v == 0 {
                continue;
            }
            let hour = call.start + Duration::hours(i as i64);
            match index.get(&(item.id.clone(), hour)) {
                Some(&k) => rows[k].conversions += v,
                None => {
                    index.insert((item.id.clone(), hour), rows.len());
                    rows.push(StatRow {
                        account_id: call.account_id.to_owned(),
                        entity: call.entity.to_owned(),
                        entity_id: item.id.clone(),
                        hour,
                        placement: call.placement.to_owned(),
                        impressions: 0,
                        clicks: 0,
                        engagements: 0,
                        retweets: 0,
                        likes: 0,
                        replies: 0,
                        follows: 0,
                        billed_engagements: 0,
                        conversions: v,
                        currency: call
                            .currencies
                            .get(&item.id)
                            .map_or(call.fallback, String::as_str)
                            .to_owned(),
                        spend_local_micro: 0,
                        fx: None,
                    });
                }
            }
        }
    }
}

/// Stores rates and re-converts the stored rows they affect (all tenants: rates are global).
/// Returns (rates stored or changed, rows re-converted).
pub async fn import_rates(
    state: &Services,
    rates: &[crate::fx::Rate],
) -> Result<(usize, u64), crate::db::DbError> {
    let changed = fx_rates::upsert(&state.db, rates, state.clock.now()).await?;
    let mut rows = 0;
    for (currency, since) in &changed {
        let series = fx_rates::series(&state.db, currency).await?;
        rows += stats_store::reconvert(&state.db, currency, *since, &series).await?;
    }
    Ok((changed.len(), rows))
}
