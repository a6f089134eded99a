//! The metrics sync (PRODUCT.md §4.7): per ad account, hourly and on demand.
//!
//! One run: refresh the entity mirror (how changes made in X Ads Manager are noticed) →
//! `active_entities` for the window (what changed) → stats calls for only those entities, ≤ 20 ids,
//! ≤ 7 days, whole hours, one placement each (and, about the app campaigns among them, a
//! `MOBILE_CONVERSION` call of its own: installs) → rows converted to USD → upsert on (tenant,
//! account, entity, entity_id, hour, placement) → run and health recorded. Every run re-pulls at least the
//! trailing 72 h, where X still revises data.

pub mod backfill;
pub mod cli;
pub mod ecb;
pub mod ingest;
pub mod plan;
pub mod scheduler;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use xads_client::models::{StatsQuery, StatsResponse};

use crate::manage::{ManageError, Scope, mirror};
use crate::services::Services;
use crate::store::connections::AdAccount;
use crate::store::entities::Kind;
use crate::store::stats as stats_store;
use crate::store::sync_runs::{self, Begun, Counts, SyncTarget, Trigger};
use crate::store::{connections, fx_rates, segments, tenants};
use crate::x::{XSession, XSessionError};

pub use plan::{
    FIRST_BACKFILL, MAX_BACKFILL, MAX_CATCH_UP, TRAILING, Window, ceil_hour, floor_hour,
    split_window,
};

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
    /// A field of the request is unusable (the field, the reason).
    #[error("{1}")]
    InvalidField(&'static str, String),
    /// An asynchronous job failed for good (a backfill).
    #[error("{0}")]
    Job(String),
    /// No session with X, or X refused.
    #[error(transparent)]
    Session(#[from] XSessionError),
    /// The mirror refresh failed.
    #[error("entity refresh: {0}")]
    Mirror(String),
    /// A run of the account is running already (its id): one at a time per account.
    #[error("a sync of this ad account is running already ({0})")]
    AlreadyRunning(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<ManageError> for SyncError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Session(s) => SyncError::Session(s),
            ManageError::Db(d) => SyncError::Db(d),
            other => SyncError::Mirror(other.public_message()),
        }
    }
}

impl SyncError {
    /// The API's error code for this failure (the one `web::error` answers for it), kept with a
    /// failed run.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::NotFound(_) => "not_found",
            SyncError::Invalid(_) | SyncError::InvalidField(..) => "validation_failed",
            SyncError::Job(_) => "x_job_failed",
            SyncError::Session(s) => s.code(),
            SyncError::Mirror(_) => "x_error",
            SyncError::AlreadyRunning(_) => "sync_running",
            SyncError::Db(_) => "internal",
        }
    }

    /// The text a client may be shown, and the one a failed run keeps (the cause is logged).
    pub fn public_message(&self) -> String {
        match self {
            SyncError::Session(s) => s.public_message(),
            SyncError::Db(d) => d.public_message(),
            other => other.to_string(),
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

/// Records a new run of the account, unless one is running there (one at a time per account,
/// across instances): [`Begun::New`] to execute, or [`Begun::Running`] with the running run's id.
pub async fn begin(
    state: &Services,
    target: &SyncTarget,
    trigger: Trigger,
) -> Result<Begun, SyncError> {
    let id = crate::store::new_id("syn");
    Ok(sync_runs::start_run(
        &state.db,
        &id,
        target,
        trigger,
        state.clock.now(),
        state.config.leases.sync,
    )
    .await?)
}

/// Runs a begun sync to the end and records its outcome and the account's health. The run's
/// lease is renewed meanwhile, so however long X holds it, it stays the account's one run.
pub async fn execute(
    state: &Services,
    run_id: &str,
    target: &SyncTarget,
    request: &Request,
    progress: &dyn Progress,
) -> Result<Counts, SyncError> {
    let hold = state.config.leases.sync;
    let renew = || async {
        sync_runs::renew_run(&state.db, run_id, hold)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(sync.id = run_id, error = %e, "renewing a sync run's lease failed");
                true
            })
    };
    let mut counts = Counts::default();
    let mut window = None;
    let result = crate::lease::renewing(
        run_inner(state, target, request, progress, &mut counts, &mut window),
        crate::config::Leases::renew_every(hold),
        renew,
    )
    .await;
    let failure = result
        .as_ref()
        .err()
        .map(|e| (e.code(), e.public_message()));
    if let Err(e) = &result {
        // The cause, once, for the operator; the run keeps only the code and the safe message.
        tracing::warn!(tenant.id = %target.tenant_id, ad_account.id = %target.account_id, sync.id = run_id, error = %e, "sync failed");
    } else {
        tracing::info!(
            tenant.id = %target.tenant_id, ad_account.id = %target.account_id, sync.id = run_id,
            x_calls = counts.x_calls, active = counts.active_entities, rows = counts.rows_upserted,
            "sync succeeded"
        );
    }
    if result.is_ok() && counts.rows_upserted > 0 {
        // The days the sync wrote are re-aggregated now rather than by the next report's read
        // (nothing to do when a report settled them already, or the sync wrote only segments).
        if let Err(e) =
            crate::store::daily::settled_zone(&state.db, &target.tenant_id, &target.account_id)
                .await
        {
            tracing::warn!(tenant.id = %target.tenant_id, ad_account.id = %target.account_id, error = %e, "settling the daily roll-up failed; the next report's read settles it");
        }
    }
    sync_runs::finish_run(
        &state.db,
        run_id,
        target,
        window,
        counts,
        failure
            .as_ref()
            .map(|(code, message)| sync_runs::Failure { code, message }),
        state.clock.now(),
    )
    .await?;
    result.map(|()| counts)
}

/// Begins and executes a sync in one go; [`SyncError::AlreadyRunning`] when a run of the
/// account is running (this one did not start).
pub async fn run(
    state: &Services,
    target: &SyncTarget,
    trigger: Trigger,
    request: &Request,
    progress: &dyn Progress,
) -> Result<(String, Counts), SyncError> {
    let id = match begin(state, target, trigger).await? {
        Begun::New(id) => id,
        Begun::Running(id) => return Err(SyncError::AlreadyRunning(id)),
    };
    let counts = execute(state, &id, target, request, progress).await?;
    Ok((id, counts))
}

/// What a run works on: the tenant's scope for the account, the account and the signed view of X.
struct Target {
    scope: Scope,
    account: AdAccount,
    session: XSession,
}

/// Loads the tenant and the account (404s) and opens the tenant's session with X.
async fn open_target(state: &Services, target: &SyncTarget) -> Result<Target, SyncError> {
    let tenant = tenants::get(&state.db, &target.tenant_id)
        .await?
        .ok_or(SyncError::NotFound("tenant"))?;
    let account = connections::ad_account(&state.db, &target.tenant_id, &target.account_id)
        .await?
        .ok_or(SyncError::NotFound("ad account"))?;
    let session = XSession::for_tenant(state, &tenant.id).await?;
    let scope = Scope {
        state: state.clone(),
        tenant,
        account_id: account.id.clone(),
        idem_key: None,
    };
    Ok(Target {
        scope,
        account,
        session,
    })
}

/// The run's window ([`plan::window`]), reading the account's last synced hour when it matters.
async fn choose_window(
    state: &Services,
    target: &SyncTarget,
    request: &Request,
) -> Result<Window, SyncError> {
    let synced_until = if plan::needs_synced_until(request.window) {
        sync_runs::health(&state.db, &target.tenant_id, &target.account_id)
            .await?
            .synced_until
    } else {
        None
    };
    plan::window(state.clock.now(), request.window, synced_until)
}

/// Refreshes the entity mirror (state changes made in X Ads Manager reach it here): full lists of
/// campaigns, line items and promoted tweets, `count=1000`, following cursors.
async fn refresh_mirror(t: &Target, counts: &mut Counts) -> Result<(), SyncError> {
    for kind in [Kind::Campaign, Kind::LineItem, Kind::PromotedTweet] {
        let n = mirror::refresh(&t.scope, &t.session, kind).await?;
        counts.entities += n as i64;
        // One call per 1000 entities.
        counts.x_calls += ((n as i64 + 999) / 1000).max(1);
    }
    Ok(())
}

/// Performs the planned `active_entities` calls; one merged set of active entities per
/// [`plan::ActivityCalls`].
async fn ask_active_entities(
    t: &Target,
    calls: &[plan::ActivityCalls],
    counts: &mut Counts,
) -> Result<Vec<plan::Active>, SyncError> {
    let mut sets = Vec::with_capacity(calls.len());
    for group in calls {
        let mut active = plan::Active::new(group.entity);
        for q in &group.queries {
            let acct = t.account.id.clone();
            let resp = t
                .session
                .call(|x| {
                    let (q, acct) = (q.clone(), acct.clone());
                    async move { x.active_entities(&acct, &q).await }
                })
                .await?;
            counts.x_calls += 1;
            active.record(&resp.data);
        }
        counts.active_entities += active.found.len() as i64;
        sets.push(active);
    }
    Ok(sets)
}

/// Performs the planned stats calls: each answer (with its mobile-conversion companion) turned
/// into rows, converted to USD and upserted.
async fn pull_stats(
    t: &Target,
    calls: Vec<plan::StatsCall>,
    currencies: &HashMap<String, String>,
    progress: &dyn Progress,
    counts: &mut Counts,
) -> Result<(), SyncError> {
    let state = &t.scope.state;
    let account_id = &t.account.id;
    let total = 2 + calls.len() as u64;
    let fallback = t.account.currency.clone().unwrap_or_else(|| "XXX".into());
    let mut wanted: Vec<String> = currencies.values().cloned().collect();
    wanted.push(fallback.clone());
    wanted.sort();
    wanted.dedup();
    let rates = fx_rates::series_for(&state.db, &t.scope.tenant.id, &wanted).await?;
    for (i, call) in calls.into_iter().enumerate() {
        let q = &call.query;
        progress.step(
            2 + i as u64,
            total,
            &format!(
                "{} stats {} → {}",
                q.entity.as_str(),
                q.start_time.format("%Y-%m-%d %H:00"),
                q.end_time.format("%Y-%m-%d %H:00")
            ),
        );
        let resp = stats_call(&t.session, account_id, q).await?;
        counts.x_calls += 1;
        let ingest_call = ingest::Call {
            account_id,
            entity: q.entity,
            placement: q.placement,
            start: q.start_time,
            currencies,
            fallback: &fallback,
        };
        let mut rows = ingest::rows(&ingest_call, &resp);
        if let Some(mobile) = &call.mobile {
            let m = stats_call(&t.session, account_id, mobile).await?;
            counts.x_calls += 1;
            ingest::merge(
                &mut rows,
                ingest::rows(&ingest_call, &m),
                &mobile.entity_ids,
                &mobile.metric_groups,
            );
        }
        ingest::convert(&mut rows, &rates);
        counts.rows_upserted +=
            stats_store::upsert(&state.db, &t.scope.tenant.id, &rows, state.clock.now()).await?
                as i64;
    }
    progress.step(total, total, "done");
    Ok(())
}

/// One run: open the target, choose the window, refresh the mirror, ask X what changed, then
/// pull stats for only that ([`plan`] decides every call; this performs them in order).
async fn run_inner(
    state: &Services,
    target: &SyncTarget,
    request: &Request,
    progress: &dyn Progress,
    counts: &mut Counts,
    window_out: &mut Option<Window>,
) -> Result<(), SyncError> {
    let db = &state.db;
    let t = open_target(state, target).await?;
    let window = choose_window(state, target, request).await?;
    *window_out = Some(window);

    progress.step(0, 3, "refreshing campaigns, line items and promoted tweets");
    refresh_mirror(&t, counts).await?;
    let currencies = stats_store::entity_currencies(db, &target.tenant_id, &t.account.id).await?;
    let settings = stats_store::settings(db, &target.tenant_id, &t.account.id).await?;
    let tracked = plan::tracked_campaigns(
        stats_store::line_item_campaigns(db, &target.tenant_id, &t.account.id).await?,
        &request.line_item_campaigns,
    );

    progress.step(1, 3, "asking X which entities changed");
    let active = ask_active_entities(&t, &plan::activity_calls(window, &tracked), counts).await?;

    let apps = stats_store::app_entities(db, &target.tenant_id, &t.account.id).await?;
    let calls = plan::stats_calls(window, &active, &settings, &apps);
    pull_stats(&t, calls, &currencies, progress, counts).await
}

/// One stats call through the session (refreshing the token as needed).
async fn stats_call(
    session: &XSession,
    account_id: &str,
    query: &StatsQuery,
) -> Result<StatsResponse, SyncError> {
    let acct = account_id.to_owned();
    Ok(session
        .call(|x| {
            let (q, acct) = (query.clone(), acct.clone());
            async move { x.stats(&acct, &q).await }
        })
        .await?
        .data)
}

/// Stores global rates (the bundled table, ECB, CSV: an operator's) and re-converts the stored
/// rows they affect, tenant by tenant, each with its own series (its overrides keep winning).
/// Returns (currencies changed, rows re-converted).
pub async fn import_rates(
    state: &Services,
    rates: &[crate::fx::Rate],
) -> Result<(usize, u64), crate::db::DbError> {
    import_global_rates(&state.db, rates, state.clock.now()).await
}

/// [`import_rates`] on a bare database (the `xads fx import` command has no X clients).
pub async fn import_global_rates(
    db: &crate::db::Db,
    rates: &[crate::fx::Rate],
    now: DateTime<Utc>,
) -> Result<(usize, u64), crate::db::DbError> {
    let changed = fx_rates::upsert(db, rates, now).await?;
    let mut rows = 0;
    for (currency, since) in &changed {
        for tenant in fx_rates::tenants_with_rows(db, currency).await? {
            let series = fx_rates::tenant_series(db, &tenant, currency).await?;
            rows += stats_store::reconvert(db, &tenant, currency, *since, &series).await?;
            rows += segments::reconvert(db, &tenant, currency, *since, &series).await?;
        }
    }
    Ok((changed.len(), rows))
}

/// Stores a tenant's own rates (`POST /api/v1/fx_rates`) and re-converts that tenant's rows
/// alone. Returns (currencies changed, rows re-converted).
pub async fn import_tenant_rates(
    state: &Services,
    tenant_id: &str,
    rates: &[crate::fx::Rate],
) -> Result<(usize, u64), crate::db::DbError> {
    let db = &state.db;
    let changed = fx_rates::upsert_overrides(db, tenant_id, rates, state.clock.now()).await?;
    let mut rows = 0;
    for (currency, since) in &changed {
        let series = fx_rates::tenant_series(db, tenant_id, currency).await?;
        rows += stats_store::reconvert(db, tenant_id, currency, *since, &series).await?;
        rows += segments::reconvert(db, tenant_id, currency, *since, &series).await?;
    }
    Ok((changed.len(), rows))
}
