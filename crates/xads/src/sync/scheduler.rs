//! The hourly scheduler: at each slot (`XADS_SYNC_INTERVAL`, aligned to the epoch) every instance
//! walks the connected ad accounts and runs those whose (account, slot) lease it wins — a
//! conditional insert on the lease's primary key, so each account syncs once per slot however
//! many instances run. Runs of different accounts proceed at once, up to `XADS_SYNC_CONCURRENCY`
//! per instance, so an account X holds back keeps one of them and delays no other. A lease is
//! renewed while its run lasts (on the database's clock), so however long X holds a run, no other
//! instance repeats it; a holder that died is taken over once its lease lapsed. A failed run
//! releases its lease, so the next tick (of any instance) retries.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Request, Silent, SyncError};
use crate::config::Leases;
use crate::services::Services;
use crate::store::new_id;
use crate::store::sync_runs::{self, SyncTarget, Trigger};

/// Runs still `running` that were recorded before runs had leases count as dead after this.
const LEGACY_RUN_LIMIT: Duration = Duration::hours(1);
/// How often an instance looks for work within a slot (to retry failed accounts).
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// What one tick did for one account.
#[derive(Debug)]
pub struct Outcome {
    /// The account.
    pub target: SyncTarget,
    /// The slot it ran for.
    pub slot: DateTime<Utc>,
    /// The run's id, and how it ended.
    pub result: Result<String, String>,
}

/// The start of the slot containing `now` for `interval`.
pub fn slot_of(now: DateTime<Utc>, interval: std::time::Duration) -> DateTime<Utc> {
    let ms = i64::try_from(interval.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let t = now.timestamp_millis();
    DateTime::from_timestamp_millis(t - t.rem_euclid(ms)).unwrap_or(now)
}

/// One pass: runs every account whose lease for the current slot this instance wins, up to
/// `XADS_SYNC_CONCURRENCY` at once, and returns when they all ended.
pub async fn tick(state: &Services) -> Result<Vec<Outcome>, SyncError> {
    let permits = Arc::new(Semaphore::new(state.config.sync_concurrency));
    let mut runs = JoinSet::new();
    dispatch(state, &permits, &mut runs).await?;
    let mut out = Vec::new();
    while let Some(done) = runs.join_next().await {
        if let Ok(outcome) = done {
            out.push(outcome);
        }
    }
    Ok(out)
}

/// Claims and starts the accounts whose lease for the current slot this instance wins, each as
/// soon as one of `permits` is free (so it claims no more than it can run now, leaving the rest
/// to other instances); returns once each was claimed and started, or lost to another instance.
async fn dispatch(
    state: &Services,
    permits: &Arc<Semaphore>,
    runs: &mut JoinSet<Outcome>,
) -> Result<(), SyncError> {
    let now = state.clock.now();
    let slot = slot_of(now, state.config.sync_interval);
    let targets = sync_runs::targets(&state.db).await?;
    sync_runs::fail_stale_runs(&state.db, now - LEGACY_RUN_LIMIT, now).await?;
    sync_runs::sweep_leases(&state.db, slot - Duration::days(7)).await?;
    let hold = state.config.leases.sync;
    for target in targets {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let holder = new_id("lease");
        if !sync_runs::claim_slot(&state.db, &target, slot, &holder, hold).await? {
            continue;
        }
        let state = state.clone();
        runs.spawn(async move {
            let _permit = permit;
            let renew = || async {
                sync_runs::renew_slot(&state.db, &target, slot, &holder, hold)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(ad_account.id = %target.account_id, error = %e, "renewing a sync lease failed");
                        true
                    })
            };
            let request = Request::default();
            let run = super::run(&state, &target, Trigger::Scheduled, &request, &Silent);
            let result = crate::lease::renewing(run, Leases::renew_every(hold), renew)
                .await
                .map(|(id, _)| id)
                .map_err(|e| e.to_string());
            if let Err(e) =
                sync_runs::finish_slot(&state.db, &target, slot, &holder, result.is_ok()).await
            {
                // Unreleased, the lease lapses by itself and the slot is retried then.
                tracing::warn!(ad_account.id = %target.account_id, error = %e, "recording a sync slot failed");
            }
            Outcome {
                target,
                slot,
                result,
            }
        });
    }
    Ok(())
}

/// Ticks at every slot (and every few minutes within a slot, so failed accounts are retried)
/// until `shutdown` completes; runs started by a tick go on while the next ticks come, so one
/// account X holds past a slot delays no other account's next run. (The bundled FX table is
/// loaded by `Application::build`.)
pub async fn run(state: Services, shutdown: impl Future<Output = ()> + Send) {
    tokio::pin!(shutdown);
    let permits = Arc::new(Semaphore::new(state.config.sync_concurrency));
    let mut runs: JoinSet<Outcome> = JoinSet::new();
    // The first tick waits for the next slot: a restarted instance catches up from the last
    // synced hour then, and on-demand syncs cover the meantime.
    let mut first = true;
    loop {
        if !first {
            // Shutdown interrupts a dispatch too: its leases lapse and another instance takes
            // over. (Dropping `runs` aborts the runs in progress the same way.)
            tokio::select! {
                _ = &mut shutdown => break,
                r = dispatch(&state, &permits, &mut runs) => if let Err(e) = r {
                    tracing::warn!(error = %e, "sync tick failed");
                },
            }
        }
        while let Some(done) = runs.try_join_next() {
            if let Ok(o) = done {
                tracing::debug!(ad_account.id = %o.target.account_id, ok = o.result.is_ok(), "scheduled sync ended");
            }
        }
        let now = state.clock.now();
        let next = slot_of(now, state.config.sync_interval)
            + Duration::from_std(state.config.sync_interval).unwrap_or(Duration::hours(1));
        let until_next = (next - now).to_std().unwrap_or_default();
        // Within a slot, look again every few minutes so a failed account is retried.
        let wait = if first { until_next } else { until_next.min(RETRY_EVERY) }
            // A little jitter spreads instances over the slot's first seconds.
            + std::time::Duration::from_millis(rand::random_range(0..2000));
        first = false;
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_align_to_the_interval() {
        let t = DateTime::parse_from_rfc3339("2026-05-20T10:42:17Z")
            .unwrap()
            .to_utc();
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(slot_of(t, hour).to_rfc3339(), "2026-05-20T10:00:00+00:00");
        let quarter = std::time::Duration::from_secs(900);
        assert_eq!(
            slot_of(t, quarter).to_rfc3339(),
            "2026-05-20T10:30:00+00:00"
        );
    }
}
