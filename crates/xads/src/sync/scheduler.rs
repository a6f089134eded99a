//! The hourly scheduler: at each slot (`XADS_SYNC_INTERVAL`, aligned to the epoch) every instance
//! walks the connected ad accounts and runs those whose (account, slot) lease it wins — a
//! conditional insert on the lease's primary key, so each account syncs once per slot however
//! many instances run. A failed run releases its lease, so the next tick (of any instance) retries.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use super::{Request, Silent, SyncError};
use crate::services::Services;
use crate::store::new_id;
use crate::store::sync_runs::{self, SyncTarget, Trigger};

/// How long a lease protects a running sync; a holder that died is replaced after this.
pub const LEASE_HOLD: Duration = Duration::minutes(30);
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

/// One pass: runs every account whose lease for the current slot this instance wins.
pub async fn tick(state: &Services) -> Result<Vec<Outcome>, SyncError> {
    let now = state.clock.now();
    let slot = slot_of(now, state.config.sync_interval);
    let targets = sync_runs::targets(&state.db).await?;
    sync_runs::fail_stale_runs(&state.db, now - LEASE_HOLD * 2, now).await?;
    sync_runs::sweep_leases(&state.db, slot - Duration::days(7)).await?;
    let holder = new_id("lease");
    let mut out = Vec::new();
    for target in targets {
        let won = sync_runs::claim_slot(
            &state.db,
            &target,
            slot,
            &holder,
            state.clock.now(),
            LEASE_HOLD,
        )
        .await?;
        if !won {
            continue;
        }
        let result = super::run(
            state,
            &target,
            Trigger::Scheduled,
            &Request::default(),
            &Silent,
        )
        .await
        .map(|(id, _)| id)
        .map_err(|e| e.to_string());
        sync_runs::finish_slot(&state.db, &target, slot, &holder, result.is_ok()).await?;
        out.push(Outcome {
            target,
            slot,
            result,
        });
    }
    Ok(out)
}

/// Ticks at every slot (and every few minutes within a slot, so failed accounts are retried)
/// until `shutdown` completes. (The bundled FX table is loaded by `Application::build`.)
pub async fn run(state: Services, shutdown: impl Future<Output = ()> + Send) {
    tokio::pin!(shutdown);
    // The first tick waits for the next slot: a restarted instance catches up from the last
    // synced hour then, and on-demand syncs cover the meantime.
    let mut first = true;
    loop {
        if !first {
            // Shutdown interrupts a tick too: its lease lapses and another instance takes over.
            tokio::select! {
                _ = &mut shutdown => break,
                r = tick(&state) => match r {
                    Ok(done) if !done.is_empty() => {
                        tracing::debug!(accounts = done.len(), "sync tick done");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "sync tick failed"),
                },
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
