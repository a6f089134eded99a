//! Backfills through X's asynchronous analytics jobs (PRODUCT.md §4.10): long history in a few
//! jobs instead of one synchronous call per 7 days and 20 ids.
//!
//! [`start`] checks the request and records the backfill (nobody holds it yet); an instance's
//! [`worker`] claims it (a conditional update of its lease, as for any backfill whose holder's
//! lease lapsed, so any instance resumes an interrupted one) and [`drive`]s it:
//! 1. plan once: refresh the mirror's campaigns, line items and promoted tweets (the reported
//!    levels, [`entities::REPORTED`]),
//!    then [`plan::backfill_calls`] over them (≤ 20 ids, ≤ 2 160 UTC hours per job, ≤ 1 080
//!    segmented, the hourly sync's metric groups, MOBILE_CONVERSION in a job of its own,
//!    segmented alike); every job recorded `planned`;
//! 2. loop: jobs left `submitting` (the instance stopped between asking X and recording X's
//!    answer, or the answer was lost) are looked for among the account's jobs at X before any is
//!    submitted again; submitted jobs are polled together, ≤ 200 a call (X's
//!    `X-Concurrent-Job-Limit-Remaining` read); finished units are downloaded and streamed, an
//!    entity at a time, into `stats_hourly` (segmented: `stats_segments`) by the hourly sync's
//!    own row building, USD conversion and upsert; planned jobs are submitted while X's remaining
//!    count allows, each recorded `submitting` before X is asked (the intent); a FAILED job or
//!    an expired result is asked again as a new job, at most [`MAX_ATTEMPTS`] times; the poll
//!    waits back off while nothing changes.
//!
//! Cancelling ([`cancel`]) marks the backfill `cancelled` (no job is submitted after that) and
//! cancels its jobs in processing at X; a runner that finds it cancelled does the same.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use xads_client::XError;
use xads_client::models::{
    JobListQuery, JobResultRow, JobStatus, MetricGroup, Placement, StatsJob, StatsJobQuery,
    StatsQuery,
};
use xads_client::vocab::{Granularity, SegmentationType, StatsEntityType};

use super::{Progress, SyncError, Target, ingest, open_target, plan};
use crate::services::Services;
use crate::store::backfills::{self, Backfill, Job, NewBackfill, NewJob, Transition};
use crate::store::entities;
use crate::store::segments::{self as segments_store, SegmentRow};
use crate::store::stats as stats_store;
use crate::store::sync_runs::SyncTarget;
use crate::store::{connections, fx_rates};

/// Submissions of one job before the backfill fails (X failed it or its result expired).
pub const MAX_ATTEMPTS: i64 = 3;
/// The longest backfill (as the synchronous sync's explicit window).
pub const MAX_SPAN: Duration = super::MAX_BACKFILL;
/// How far back a backfill may start: X keeps analytics for about two years (undocumented; we
/// refuse older windows rather than spend jobs on them).
pub const OLDEST: Duration = Duration::days(730);
/// Rows upserted per transaction while a result file streams in.
const UPSERT_BATCH: usize = 2000;
/// Backfills one instance drives at once.
const PER_INSTANCE: i64 = 8;

/// What a backfill is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackfillRequest {
    /// `[from, to)`, whole hours.
    pub window: (DateTime<Utc>, DateTime<Utc>),
    /// Split by this dimension.
    pub segment: Option<SegmentationType>,
    /// X's country targeting value (METROS).
    pub country: Option<String>,
}

/// Checks a backfill's window and segmentation against X's rules and ours, from values alone:
/// whole hours (`from` floored, `to` rounded up and cut at the end of the current hour), `from`
/// before `to`, at most [`MAX_SPAN`], not older than [`OLDEST`], METROS with a country, a country
/// only with METROS.
pub fn check(
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    segment: Option<SegmentationType>,
    country: Option<String>,
) -> Result<BackfillRequest, SyncError> {
    let end = plan::floor_hour(now) + Duration::hours(1);
    let (from, to) = (plan::floor_hour(from), plan::ceil_hour(to).min(end));
    let invalid = |field, m: &str| Err(SyncError::InvalidField(field, m.to_owned()));
    if from >= to {
        return invalid(
            "from",
            "from must be before to, and not in the future (the window is empty)",
        );
    }
    if to - from > MAX_SPAN {
        return invalid(
            "from",
            &format!(
                "a backfill may span at most {} days; split it",
                MAX_SPAN.num_days()
            ),
        );
    }
    if from < end - OLDEST {
        return invalid(
            "from",
            &format!(
                "X keeps analytics for about {} days: from may be at most that far back",
                OLDEST.num_days()
            ),
        );
    }
    let country = country.filter(|c| !c.trim().is_empty());
    match (segment, &country) {
        (Some(SegmentationType::Metros), None) => {
            return invalid(
                "country",
                "segment METROS needs a country (X's targeting value, e.g. US = 96683cc9126741d1)",
            );
        }
        (Some(SegmentationType::Metros), Some(_)) | (_, None) => {}
        (_, Some(_)) => return invalid("country", "country goes with segment METROS only"),
    }
    if let Some(c) = &country
        && (c.len() > 64 || !c.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return invalid(
            "country",
            "country must be X's targeting value (letters and digits)",
        );
    }
    Ok(BackfillRequest {
        window: (from, to),
        segment,
        country,
    })
}

/// A job's parameters as recorded (and matched against X's list of the account's jobs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    /// `CAMPAIGN` or `LINE_ITEM`.
    pub entity: StatsEntityType,
    /// ≤ 20 ids.
    pub entity_ids: Vec<String>,
    /// Whole hour.
    pub from: DateTime<Utc>,
    /// Whole hour, exclusive.
    pub to: DateTime<Utc>,
    /// One placement.
    pub placement: Placement,
    /// The metric groups.
    pub metric_groups: Vec<MetricGroup>,
    /// The segmentation.
    pub segment: Option<SegmentationType>,
    /// The country (METROS).
    pub country: Option<String>,
}

impl Spec {
    fn of(q: &StatsQuery, request: &BackfillRequest) -> Spec {
        Spec {
            entity: q.entity,
            entity_ids: q.entity_ids.clone(),
            from: q.start_time,
            to: q.end_time,
            placement: q.placement,
            metric_groups: q.metric_groups.clone(),
            segment: request.segment,
            country: request.country.clone(),
        }
    }

    fn query(&self) -> StatsJobQuery {
        StatsJobQuery {
            stats: StatsQuery {
                entity: self.entity,
                entity_ids: self.entity_ids.clone(),
                start_time: self.from,
                end_time: self.to,
                granularity: Granularity::Hour,
                placement: self.placement,
                metric_groups: self.metric_groups.clone(),
            },
            segmentation_type: self.segment,
            country: self.country.clone(),
            platform: None,
        }
    }

    /// Whether X's job is this one (the same parameters).
    fn matches(&self, job: &StatsJob) -> bool {
        let mut ids = job.entity_ids.clone();
        ids.sort();
        let mut mine = self.entity_ids.clone();
        mine.sort();
        job.entity == Some(self.entity)
            && ids == mine
            && job.start_time == Some(self.from)
            && job.end_time == Some(self.to)
            && job.placement == Some(self.placement)
            && job.metric_groups == self.metric_groups
            && job.segmentation_type == self.segment
    }
}

/// The jobs of a backfill: per planned call a unit, its main job and, when the account wants
/// installs, the MOBILE_CONVERSION job whose rows are merged into the main one's.
pub fn jobs_of(calls: &[plan::StatsCall], request: &BackfillRequest) -> Vec<NewJob> {
    let mut out = Vec::new();
    for (unit, call) in calls.iter().enumerate() {
        let parts = std::iter::once(("main", &call.query))
            .chain(call.mobile.as_ref().map(|m| ("mobile", m)));
        for (part, q) in parts {
            out.push(NewJob {
                unit: unit as i64,
                part: part.to_owned(),
                query: serde_json::to_string(&Spec::of(q, request)).unwrap_or_default(),
            });
        }
    }
    out
}

/// Records a backfill of the tenant's account (refused when the account is unknown or the
/// request breaks a rule) and wakes this instance's worker. `holder`: the caller drives it
/// itself (the CLI); otherwise a worker claims it.
pub async fn start(
    state: &Services,
    target: &SyncTarget,
    request: &BackfillRequest,
    trigger: &str,
    holder: Option<&str>,
) -> Result<Backfill, SyncError> {
    connections::ad_account(&state.db, &target.tenant_id, &target.account_id)
        .await?
        .ok_or(SyncError::NotFound("ad account"))?;
    let id = crate::store::new_id("bf");
    let segment = request.segment.map(|s| s.as_str());
    backfills::create(
        &state.db,
        &NewBackfill {
            id: &id,
            tenant_id: &target.tenant_id,
            account_id: &target.account_id,
            trigger,
            window: request.window,
            segment,
            country: request.country.as_deref(),
        },
        holder,
        state.config.leases.backfill,
        state.clock.now(),
    )
    .await?;
    state.backfill_wake.notify_one();
    backfills::get(&state.db, &target.tenant_id, &id)
        .await?
        .ok_or(SyncError::NotFound("backfill"))
}

/// The history a newly connected account gets by itself (nothing when `XADS_BACKFILL_DAYS` is
/// 0): per account, `XADS_BACKFILL_DAYS` ending after the current hour, and the same days split
/// by platform (iOS against Android is how app marketers budget). The breakdown is recorded
/// first, so the history is the account's latest backfill, the one its tile shows.
pub async fn on_connect(state: &Services, tenant_id: &str) -> Result<(), SyncError> {
    let days = state.config.backfill_days;
    if days == 0 {
        return Ok(());
    }
    let now = state.clock.now();
    let to = plan::floor_hour(now) + Duration::hours(1);
    let from = to - Duration::days(i64::from(days));
    let breakdown = check(now, from, to, Some(SegmentationType::Platforms), None)?;
    let history = check(now, from, to, None, None)?;
    for account in connections::ad_accounts(&state.db, tenant_id).await? {
        let target = SyncTarget {
            tenant_id: tenant_id.to_owned(),
            account_id: account.id.clone(),
        };
        for request in [&breakdown, &history] {
            start(state, &target, request, "connect", None).await?;
        }
    }
    Ok(())
}

/// Cancels a tenant's running backfill: `cancelled` (nothing is submitted after this), then its
/// jobs in processing at X are cancelled too. `None` for an unknown backfill; the backfill as it
/// is otherwise (a finished one stays as it ended).
pub async fn cancel(
    state: &Services,
    tenant_id: &str,
    id: &str,
) -> Result<Option<Backfill>, SyncError> {
    let Some(b) = backfills::get(&state.db, tenant_id, id).await? else {
        return Ok(None);
    };
    if backfills::cancel(&state.db, tenant_id, id, state.clock.now()).await? {
        let target = SyncTarget {
            tenant_id: b.tenant_id.clone(),
            account_id: b.account_id.clone(),
        };
        let t = open_target(state, &target).await?;
        cancel_at_x(&t, id).await?;
    }
    Ok(backfills::get(&state.db, tenant_id, id).await?)
}

/// Cancels the backfill's jobs X may still be processing (best effort: one X already finished
/// refuses, which is fine).
async fn cancel_at_x(t: &Target, id: &str) -> Result<(), SyncError> {
    let db = &t.scope.state.db;
    for j in backfills::jobs(db, id).await? {
        let Some(x_id) = j.x_job_id.clone().filter(|_| j.state == "submitted") else {
            continue;
        };
        let acct = t.account.id.clone();
        let r = t
            .session
            .call(|x| {
                let (acct, x_id) = (acct.clone(), x_id.clone());
                async move { x.cancel_stats_job(&acct, &x_id).await }
            })
            .await;
        if let Err(e) = r {
            tracing::info!(backfill.id = id, x.job_id = %x_id, error = %e, "cancelling a job at X failed");
        }
        backfills::set_state(db, id, j.seq, Transition::new("submitted", "cancelled")).await?;
    }
    Ok(())
}

/// Every instance's backfill worker: claims backfills nobody holds (new ones, and those whose
/// holder stopped) and drives them, a few at a time; woken by [`start`] or every
/// `leases.backfill_poll`. The tasks it drives stop with it (a stopped instance's backfills are
/// resumed by any other once their lease lapsed).
pub async fn worker(state: Services) {
    let holder = crate::store::new_id("bfr");
    let mut running = tokio::task::JoinSet::new();
    let mut held: HashSet<String> = HashSet::new();
    let every = state
        .config
        .leases
        .backfill_poll
        .max(std::time::Duration::from_millis(10));
    loop {
        while let Some(done) = running.try_join_next() {
            if let Ok(id) = done {
                held.remove(&id);
            }
        }
        let room = PER_INSTANCE - held.len() as i64;
        if room > 0 {
            match backfills::claim_free(&state.db, &holder, state.config.leases.backfill, room)
                .await
            {
                Ok(ids) => {
                    for id in ids {
                        // A backfill this worker drives already (its renewal was late): the
                        // claim only renewed it.
                        if !held.insert(id.clone()) {
                            continue;
                        }
                        let (state, holder) = (state.clone(), holder.clone());
                        running.spawn(async move {
                            if let Err(e) = drive(&state, &id, &holder, &super::Silent).await {
                                tracing::warn!(backfill.id = %id, error = %e, "backfill stopped");
                            }
                            id
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming backfills failed"),
            }
        }
        tokio::select! {
            _ = state.backfill_wake.notified() => {}
            _ = tokio::time::sleep(every * 5) => {}
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Ok(id) = done {
                    held.remove(&id);
                }
            }
        }
    }
}

/// Drives a backfill `holder` holds to its end (or until it is cancelled, or its lease is lost),
/// renewing the lease meanwhile. A failure of the backfill itself (a job X kept failing, X
/// refusing) is recorded on it; an `Err` is a failure to reach the database or X that leaves it
/// running, released, for the next claim.
pub async fn drive(
    state: &Services,
    id: &str,
    holder: &str,
    progress: &dyn Progress,
) -> Result<Backfill, SyncError> {
    let hold = state.config.leases.backfill;
    let lost = Arc::new(AtomicBool::new(false));
    let renew = || {
        let lost = lost.clone();
        async move {
            let held = backfills::renew(&state.db, id, holder, hold)
                .await
                .unwrap_or(true);
            if !held {
                lost.store(true, Ordering::SeqCst);
            }
            held
        }
    };
    let result = crate::lease::renewing(
        run(state, id, holder, &lost, progress),
        crate::config::Leases::renew_every(hold),
        renew,
    )
    .await;
    let now = state.clock.now();
    match &result {
        Ok(()) => {}
        Err(e) if ends_it(e) => {
            tracing::warn!(backfill.id = id, error = %e, "backfill failed");
            backfills::finish(&state.db, id, Some((e.code(), &e.public_message())), now).await?;
        }
        Err(e) => {
            tracing::warn!(backfill.id = id, error = %e, "backfill interrupted; released for the next claim");
            backfills::release(&state.db, id, holder).await?;
        }
    }
    backfills::by_id(&state.db, id)
        .await?
        .ok_or(SyncError::NotFound("backfill"))
}

/// Whether a failure ends the backfill (X refused, a job kept failing, the account is gone)
/// rather than interrupting it (X or the database unreachable for now: the next claim resumes).
fn ends_it(e: &SyncError) -> bool {
    use crate::x::XSessionError as S;
    match e {
        SyncError::Job(_) | SyncError::Mirror(_) | SyncError::NotFound(_) => true,
        SyncError::Session(S::X(x)) => !x.is_retryable(),
        SyncError::Session(S::NotConnected | S::NeedsReconnect(_)) => true,
        _ => false,
    }
}

/// What the loop learnt from X about the account's job slots.
#[derive(Clone, Copy, Debug, Default)]
struct Slots {
    remaining: Option<u64>,
}

impl Slots {
    fn learn(&mut self, limit: xads_client::models::JobLimit) {
        if let Some(r) = limit.remaining {
            self.remaining = Some(r);
        } else if let Some(l) = limit.limit {
            self.remaining = self.remaining.or(Some(l));
        }
    }
}

async fn run(
    state: &Services,
    id: &str,
    holder: &str,
    lost: &AtomicBool,
    progress: &dyn Progress,
) -> Result<(), SyncError> {
    let db = &state.db;
    let b = backfills::by_id(db, id)
        .await?
        .ok_or(SyncError::NotFound("backfill"))?;
    let target = SyncTarget {
        tenant_id: b.tenant_id.clone(),
        account_id: b.account_id.clone(),
    };
    let t = open_target(state, &target).await?;
    if !b.planned {
        progress.step(0, 1, "refreshing campaigns, line items and promoted tweets");
        for entity in entities::REPORTED {
            crate::manage::mirror::refresh(&t.scope, &t.session, entities::kind_of(entity)).await?;
        }
        let request = BackfillRequest {
            window: b.window,
            segment: b.segment.as_deref().and_then(|s| s.parse().ok()),
            country: b.country.clone(),
        };
        let mut entities_of = Vec::new();
        for entity in entities::REPORTED {
            let ids =
                entities::x_ids(db, &b.tenant_id, &b.account_id, entities::kind_of(entity)).await?;
            if !ids.is_empty() {
                entities_of.push((entity, ids));
            }
        }
        let settings = stats_store::settings(db, &b.tenant_id, &b.account_id).await?;
        let apps = stats_store::app_entities(db, &b.tenant_id, &b.account_id).await?;
        let calls = plan::backfill_calls(b.window, &entities_of, &settings, request.segment, &apps);
        let jobs = jobs_of(&calls, &request);
        if !backfills::record_plan(db, id, holder, &jobs).await? {
            // Another instance holds it now, or planned it first.
            return Ok(());
        }
    }
    let currencies = stats_store::entity_currencies(db, &b.tenant_id, &b.account_id).await?;
    let fallback = t.account.currency.clone().unwrap_or_else(|| "XXX".into());
    let mut wait = state.config.leases.backfill_poll;
    let max_wait = state.config.leases.backfill_poll_max.max(wait);
    let mut slots = Slots::default();
    loop {
        if lost.load(Ordering::SeqCst) {
            return Ok(());
        }
        let b = backfills::by_id(db, id)
            .await?
            .ok_or(SyncError::NotFound("backfill"))?;
        if b.status != "running" {
            if b.status == "cancelled" {
                cancel_at_x(&t, id).await?;
            }
            return Ok(());
        }
        let jobs = backfills::jobs(db, id).await?;
        progress.step(
            b.jobs_done as u64,
            (b.jobs_total as u64).max(1),
            &format!("{} of {} jobs, {} rows", b.jobs_done, b.jobs_total, b.rows),
        );
        if let Some(failed) = jobs.iter().find(|j| j.state == "failed") {
            return Err(SyncError::Job(format!(
                "X failed a job of this backfill {} times ({}); the backfill stopped",
                failed.attempts,
                describe(failed)
            )));
        }
        if jobs.iter().all(|j| j.state == "done") {
            backfills::finish(db, id, None, state.clock.now()).await?;
            return Ok(());
        }
        let mut changed = resolve_unknown(&t, id, &jobs, &mut slots, state).await?;
        changed |= poll(&t, id, &jobs, &mut slots).await?;
        let jobs = backfills::jobs(db, id).await?;
        changed |= ingest_ready(&t, id, &jobs, &currencies, &fallback).await?;
        let jobs = backfills::jobs(db, id).await?;
        changed |= submit(&t, id, holder, &jobs, &mut slots, state).await?;
        if changed {
            wait = state.config.leases.backfill_poll;
        } else {
            wait = (wait * 2).min(max_wait);
        }
        tokio::time::sleep(wait).await;
    }
}

fn spec(j: &Job) -> Result<Spec, SyncError> {
    serde_json::from_str(&j.query)
        .map_err(|e| SyncError::Job(format!("a recorded job cannot be read: {e}")))
}

fn describe(j: &Job) -> String {
    match spec(j) {
        Ok(s) => format!(
            "{} × {} {} → {}",
            s.entity.as_str(),
            s.entity_ids.len(),
            s.from.format("%Y-%m-%d %H:00"),
            s.to.format("%Y-%m-%d %H:00")
        ),
        Err(_) => format!("job {}", j.seq),
    }
}

/// Jobs recorded `submitting` whose submission's outcome is unknown: looked for among the
/// account's jobs at X (same parameters, created since the intent, not another job's). Found:
/// `submitted` with X's id. Not found once `leases.recheck_after` passed since the intent: back
/// to `planned` (X never made it). Answers whether anything changed.
async fn resolve_unknown(
    t: &Target,
    id: &str,
    jobs: &[Job],
    slots: &mut Slots,
    state: &Services,
) -> Result<bool, SyncError> {
    let open: Vec<&Job> = jobs.iter().filter(|j| j.state == "submitting").collect();
    if open.is_empty() {
        return Ok(false);
    }
    let db = &state.db;
    let known: HashSet<String> = jobs.iter().filter_map(|j| j.x_job_id.clone()).collect();
    let at_x = list_all_jobs(t, slots).await?;
    let mut taken = known;
    let now = state.clock.now();
    let mut changed = false;
    for j in open {
        let s = spec(j)?;
        let since = j.asked_at.unwrap_or(now) - Duration::minutes(5);
        let found = at_x.iter().find(|x| {
            !taken.contains(&x.id) && s.matches(x) && x.created_at.is_none_or(|c| c >= since)
        });
        if let Some(x) = found {
            taken.insert(x.id.clone());
            let t = Transition {
                x_job_id: Some(&x.id),
                ..Transition::new("submitting", "submitted")
            };
            backfills::set_state(db, id, j.seq, t).await?;
            changed = true;
        } else if j.asked_at.is_none_or(|a| {
            now - a >= Duration::from_std(state.config.leases.recheck_after).unwrap_or_default()
        }) {
            backfills::replan(db, id, j.seq, "not found at X after an unknown outcome").await?;
            changed = true;
        }
    }
    Ok(changed)
}

/// One `stats_jobs` call for the account (a page of the list, or the jobs `q` names); X's
/// concurrency headers are learnt on the way.
async fn jobs_at_x(
    t: &Target,
    q: JobListQuery,
    slots: &mut Slots,
) -> Result<xads_client::XResponse<Vec<StatsJob>>, SyncError> {
    let acct = t.account.id.as_str();
    let resp = t
        .session
        .call(|x| {
            let q = q.clone();
            async move { x.stats_jobs(acct, &q).await }
        })
        .await?;
    slots.learn(resp.job_limit);
    Ok(resp.response)
}

/// Every job of the account at X (following cursors).
async fn list_all_jobs(t: &Target, slots: &mut Slots) -> Result<Vec<StatsJob>, SyncError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let q = JobListQuery {
            job_ids: vec![],
            count: Some(1000),
            cursor: cursor.clone(),
        };
        let page = jobs_at_x(t, q, slots).await?;
        out.extend(page.data);
        cursor = page.next_cursor.filter(|c| !c.is_empty());
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

/// Polls the submitted jobs (≤ 200 ids a call): SUCCESS → `ready` with its url; FAILED,
/// CANCELLED (not by us) or gone → asked again as a new job, or `failed` after
/// [`MAX_ATTEMPTS`].
async fn poll(t: &Target, id: &str, jobs: &[Job], slots: &mut Slots) -> Result<bool, SyncError> {
    let db = &t.scope.state.db;
    let submitted: Vec<&Job> = jobs.iter().filter(|j| j.state == "submitted").collect();
    let mut changed = false;
    for chunk in submitted.chunks(xads_client::models::MAX_JOB_IDS) {
        let q = JobListQuery::ids(chunk.iter().filter_map(|j| j.x_job_id.clone()));
        let page = jobs_at_x(t, q, slots).await?;
        let by_id: HashMap<&str, &StatsJob> =
            page.data.iter().map(|j| (j.id.as_str(), j)).collect();
        for j in chunk {
            let Some(x_id) = j.x_job_id.as_deref() else {
                continue;
            };
            match by_id.get(x_id) {
                Some(x) if x.status.is_pending() => {}
                Some(x) if x.status == JobStatus::Success && x.url.is_some() => {
                    let t = Transition {
                        url: x.url.as_deref(),
                        ..Transition::new("submitted", "ready")
                    };
                    backfills::set_state(db, id, j.seq, t).await?;
                    changed = true;
                }
                other => {
                    let why = match other {
                        Some(x) => format!("X answered the job {}", x.status),
                        None => "X no longer lists the job".to_owned(),
                    };
                    retry_or_fail(db, id, j, &why).await?;
                    changed = true;
                }
            }
        }
    }
    Ok(changed)
}

async fn retry_or_fail(db: &crate::db::Db, id: &str, j: &Job, why: &str) -> Result<(), SyncError> {
    if j.attempts >= MAX_ATTEMPTS {
        let t = Transition {
            error: Some(why),
            ..Transition::new(&j.state, "failed")
        };
        backfills::set_state(db, id, j.seq, t).await?;
    } else {
        tracing::info!(
            backfill.id = id,
            job.seq = j.seq,
            attempts = j.attempts,
            why,
            "asking X again for a job"
        );
        backfills::replan(db, id, j.seq, why).await?;
    }
    Ok(())
}

/// Submits planned jobs while X's remaining count allows (read from X's last answer about
/// jobs; until one is known, X's documented limit — a create refused for the limit stops the
/// round, and the job waits for a poll), each recorded `submitting` before X is asked.
async fn submit(
    t: &Target,
    id: &str,
    holder: &str,
    jobs: &[Job],
    slots: &mut Slots,
    state: &Services,
) -> Result<bool, SyncError> {
    let planned: Vec<&Job> = jobs.iter().filter(|j| j.state == "planned").collect();
    if planned.is_empty() {
        return Ok(false);
    }
    if slots.remaining == Some(0) && !jobs.iter().any(|j| j.state == "submitted") {
        // No poll of ours will tell when X frees a slot (another backfill of the account holds
        // them): ask X how many are free.
        let q = JobListQuery {
            job_ids: vec![],
            count: Some(1),
            cursor: None,
        };
        jobs_at_x(t, q, slots).await?;
    }
    let db = &state.db;
    let mut changed = false;
    for j in planned {
        let remaining = slots
            .remaining
            .unwrap_or(xads_client::models::DEFAULT_CONCURRENT_JOB_LIMIT);
        if remaining == 0 {
            break;
        }
        let s = spec(j)?;
        // The intent first: a crash after X's answer finds this row `submitting` and looks for
        // the job at X before asking again.
        if !backfills::intend_submit(db, id, holder, j.seq, state.clock.now()).await? {
            break;
        }
        let before = std::mem::replace(&mut changed, true);
        let q = s.query();
        let acct = t.account.id.clone();
        let r = t
            .session
            .call(|x| {
                let (q, acct) = (q.clone(), acct.clone());
                async move { x.create_stats_job(&acct, &q).await }
            })
            .await;
        match r {
            Ok(resp) => {
                slots.learn(resp.job_limit);
                if resp.job_limit.remaining.is_none() {
                    slots.remaining = Some(remaining.saturating_sub(1));
                }
                let t = Transition {
                    x_job_id: Some(&resp.response.data.id),
                    ..Transition::new("submitting", "submitted")
                };
                backfills::set_state(db, id, j.seq, t).await?;
            }
            Err(crate::x::XSessionError::X(e)) if e.is_ambiguous() => {
                // Left `submitting`: the next round looks for it at X first.
                tracing::info!(backfill.id = id, job.seq = j.seq, error = %e, "a job's submission has an unknown outcome");
                return Ok(true);
            }
            Err(crate::x::XSessionError::X(e)) if is_too_many_jobs(&e) => {
                // X's slots are taken (another backfill of the account): wait for a poll.
                backfills::unsubmit(db, id, j.seq, "X's concurrent job limit was reached").await?;
                slots.remaining = Some(0);
                // Nothing moved: the wait before the next round keeps growing.
                changed = before;
                break;
            }
            Err(e) => {
                backfills::replan(db, id, j.seq, "X refused the job").await?;
                return Err(e.into());
            }
        }
    }
    Ok(changed)
}

fn is_too_many_jobs(e: &XError) -> bool {
    e.first_code().as_deref() == Some("TOO_MANY_JOBS") || e.status() == Some(429)
}

/// Downloads the units whose jobs all finished and streams their rows into `stats_hourly`.
async fn ingest_ready(
    t: &Target,
    id: &str,
    jobs: &[Job],
    currencies: &HashMap<String, String>,
    fallback: &str,
) -> Result<bool, SyncError> {
    let db = &t.scope.state.db;
    let mut units: std::collections::BTreeMap<i64, Vec<&Job>> = Default::default();
    for j in jobs.iter().filter(|j| j.state != "done") {
        units.entry(j.unit).or_default().push(j);
    }
    let mut changed = false;
    for (unit, parts) in units {
        if !parts.iter().all(|j| j.state == "ready") {
            continue;
        }
        match ingest_unit(t, &parts, currencies, fallback).await {
            Ok(rows) => {
                backfills::unit_done(db, id, unit, rows).await?;
                changed = true;
            }
            Err(UnitError::Expired(seq, why)) => {
                if let Some(j) = parts.iter().find(|j| j.seq == seq) {
                    retry_or_fail(db, id, j, &why).await?;
                }
                changed = true;
            }
            Err(UnitError::Other(e)) => return Err(e),
        }
    }
    Ok(changed)
}

enum UnitError {
    /// The result of this job is gone (expired): ask again.
    Expired(i64, String),
    Other(SyncError),
}

impl From<SyncError> for UnitError {
    fn from(e: SyncError) -> Self {
        UnitError::Other(e)
    }
}

impl From<crate::db::DbError> for UnitError {
    fn from(e: crate::db::DbError) -> Self {
        UnitError::Other(e.into())
    }
}

async fn open_result(t: &Target, j: &Job) -> Result<xads_client::JobResult, UnitError> {
    let url = j.url.clone().unwrap_or_default();
    match t.scope.state.x.download_stats_job(&url).await {
        Ok(r) => Ok(r),
        Err(e) if matches!(e.status(), Some(403 | 404 | 410)) => Err(UnitError::Expired(
            j.seq,
            format!("the job's result is gone ({})", e.status().unwrap_or(0)),
        )),
        Err(e) => Err(UnitError::Other(SyncError::Session(e.into()))),
    }
}

/// A unit's MOBILE_CONVERSION job read alongside its main job: X lists entities in the order
/// they were asked (the companion's ids are a subsequence of the main job's), so an entity's
/// rows are found by reading on to them; the rows of entities passed on the way wait in a small
/// map, and reading stops at the first row of the entity after.
struct Companion {
    file: xads_client::JobResult,
    seq: i64,
    asked: Spec,
    peeked: Option<JobResultRow>,
    waiting: HashMap<String, Vec<JobResultRow>>,
}

fn read_err(seq: i64, e: XError) -> UnitError {
    if matches!(e.status(), Some(403 | 404 | 410)) {
        UnitError::Expired(seq, "the job's result is gone".into())
    } else {
        UnitError::Other(SyncError::Session(e.into()))
    }
}

impl Companion {
    async fn next(&mut self) -> Result<Option<JobResultRow>, UnitError> {
        if let Some(r) = self.peeked.take() {
            return Ok(Some(r));
        }
        self.file
            .next()
            .await
            .transpose()
            .map_err(|e| read_err(self.seq, e))
    }

    /// The companion's rows about `entity` (every segment's); none when it was not asked
    /// about it.
    async fn take(&mut self, entity: &str) -> Result<Vec<JobResultRow>, UnitError> {
        if !self.asked.entity_ids.iter().any(|id| id == entity) {
            return Ok(Vec::new());
        }
        let mut out = self.waiting.remove(entity).unwrap_or_default();
        while let Some(row) = self.next().await? {
            if row.entity_id == entity {
                out.push(row);
            } else if !out.is_empty() {
                self.peeked = Some(row);
                break;
            } else {
                self.waiting
                    .entry(row.entity_id.clone())
                    .or_default()
                    .push(row);
            }
        }
        Ok(out)
    }

    /// Every row not taken yet (entities only the companion had).
    async fn rest(mut self) -> Result<Vec<JobResultRow>, UnitError> {
        let mut out: Vec<JobResultRow> = self.waiting.drain().flat_map(|(_, v)| v).collect();
        while let Some(row) = self.next().await? {
            out.push(row);
        }
        Ok(out)
    }
}

/// Where a unit's rows go while its files stream in: `stats_hourly` (unsegmented) or
/// `stats_segments`, a batch at a time.
struct Sink<'a> {
    t: &'a Target,
    rates: &'a HashMap<String, fx_rates::RateSeries>,
    segment: Option<SegmentationType>,
    rows: Vec<stats_store::StatRow>,
    segments: Vec<SegmentRow>,
    written: i64,
}

impl Sink<'_> {
    /// One entity's rows of the main job (`main`) and of the companion (`more`), merged: the
    /// companion's installs add to the same hour's (and segment's) row, and become known (0)
    /// on every row of the entities it was asked about.
    async fn entity(
        &mut self,
        call: &ingest::Call<'_>,
        main: &[JobResultRow],
        more: &[JobResultRow],
        companion: Option<&Spec>,
    ) -> Result<(), UnitError> {
        let (ids, groups) = companion
            .map(|c| (c.entity_ids.as_slice(), c.metric_groups.as_slice()))
            .unwrap_or_default();
        match self.segment {
            // A segmented job's rows go to stats_segments, never into stats_hourly's totals
            // (a row without a segment gives none).
            Some(seg) => {
                let of = |rows: &[JobResultRow]| -> Vec<SegmentRow> {
                    rows.iter()
                        .flat_map(|r| ingest::segment_rows(call, seg, r))
                        .collect()
                };
                let mut rows = of(main);
                ingest::merge(&mut rows, of(more), ids, groups);
                self.segments.extend(rows);
            }
            None => {
                let of = |rows: &[JobResultRow]| -> Vec<stats_store::StatRow> {
                    rows.iter()
                        .flat_map(|r| ingest::entity_rows(call, &r.entity_id, &r.metrics))
                        .collect()
                };
                let mut rows = of(main);
                ingest::merge(&mut rows, of(more), ids, groups);
                self.rows.extend(rows);
            }
        }
        if self.rows.len() >= UPSERT_BATCH || self.segments.len() >= UPSERT_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), UnitError> {
        let state = &self.t.scope.state;
        let (db, tenant, now) = (&state.db, &self.t.scope.tenant.id, state.clock.now());
        if !self.rows.is_empty() {
            ingest::convert(self.rows.iter_mut(), self.rates);
            self.written += stats_store::upsert(db, tenant, &self.rows, now).await? as i64;
            self.rows.clear();
        }
        if !self.segments.is_empty() {
            ingest::convert(self.segments.iter_mut().map(|s| &mut s.row), self.rates);
            self.written += segments_store::upsert(db, tenant, &self.segments, now).await? as i64;
            self.segments.clear();
        }
        Ok(())
    }
}

/// Streams one unit: the main job's rows an entity at a time (all its segments' rows, when
/// segmented), each merged with the same entity's rows of the MOBILE_CONVERSION job
/// ([`Companion`]), converted to USD and upserted a batch at a time. Answers the rows written.
async fn ingest_unit(
    t: &Target,
    parts: &[&Job],
    currencies: &HashMap<String, String>,
    fallback: &str,
) -> Result<i64, UnitError> {
    let state = &t.scope.state;
    let Some(main) = parts.iter().find(|j| j.part == "main") else {
        return Ok(0);
    };
    let s = spec(main)?;
    let call = ingest::Call {
        account_id: &t.account.id,
        entity: s.entity,
        placement: s.placement,
        start: s.from,
        currencies,
        fallback,
    };
    let mut wanted: Vec<String> = currencies.values().cloned().collect();
    wanted.push(fallback.to_owned());
    wanted.sort();
    wanted.dedup();
    let rates = fx_rates::series_for(&state.db, &t.scope.tenant.id, &wanted).await?;
    let mut main_file = open_result(t, main).await?;
    let mut companion = match parts.iter().find(|j| j.part == "mobile") {
        Some(m) => Some(Companion {
            file: open_result(t, m).await?,
            seq: m.seq,
            asked: spec(m)?,
            peeked: None,
            waiting: HashMap::new(),
        }),
        None => None,
    };
    let mut sink = Sink {
        t,
        rates: &rates,
        segment: s.segment,
        rows: Vec::new(),
        segments: Vec::new(),
        written: 0,
    };
    // The rows of the entity being read (one unsegmented, one per segment otherwise).
    let mut group: Vec<JobResultRow> = Vec::new();
    loop {
        let next = main_file
            .next()
            .await
            .transpose()
            .map_err(|e| read_err(main.seq, e))?;
        let ends_group = match (&next, group.first()) {
            (Some(r), Some(g)) => r.entity_id != g.entity_id,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if ends_group {
            let rows = std::mem::take(&mut group);
            let more = match companion.as_mut() {
                Some(c) => c.take(&rows[0].entity_id).await?,
                None => Vec::new(),
            };
            let asked = companion.as_ref().map(|c| &c.asked);
            sink.entity(&call, &rows, &more, asked).await?;
        }
        match next {
            Some(r) => group.push(r),
            None => break,
        }
    }
    if let Some(c) = companion {
        let asked = c.asked.clone();
        let rest = c.rest().await?;
        sink.entity(&call, &[], &rest, Some(&asked)).await?;
    }
    sink.flush().await?;
    Ok(sink.written)
}
