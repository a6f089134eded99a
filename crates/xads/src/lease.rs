//! Keeping a lease alive while the work it guards runs (ARCHITECTURE.md, "Leases and locks").
//!
//! A lease is only as good as its renewal: a write may wait at the rate limiter for 16 minutes,
//! so a fixed lease would lapse under a live holder and let another instance repeat the work.
//! [`renewing`] polls the work and, every period, renews the lease; the work is never cancelled
//! by a lost lease (a call to X cannot be taken back half-way), the holder learns of the loss when
//! it finishes (its finish is refused) and the loss is logged by the caller's `renew`.

use std::future::Future;
use std::time::Duration;

/// Runs `work` to completion, calling `renew` every `every` while it runs. `renew` answers
/// whether the lease is still held; once it answers `false`, renewing stops (the work goes on).
///
/// The work is polled while a renewal is in flight: a renewal may wait for a lock the work holds
/// (the work's transaction updated the leased row, or holds SQLite's writer), which only the
/// work's next step releases. Awaiting the renewal before polling the work again would wait
/// forever on PostgreSQL (its deadlock detector cannot see a cycle that runs through the client)
/// and for the busy timeout on SQLite. A renewal still in flight when the work ends is dropped.
pub async fn renewing<F, R, RF>(work: F, every: Duration, mut renew: R) -> F::Output
where
    F: Future,
    R: FnMut() -> RF,
    RF: Future<Output = bool>,
{
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held = true;
    let mut renewal: Option<std::pin::Pin<Box<RF>>> = None;
    loop {
        tokio::select! {
            biased;
            out = &mut work => return out,
            still = async { renewal.as_mut().expect("guarded").await }, if renewal.is_some() => {
                held = still;
                renewal = None;
            }
            _ = tick.tick(), if held && renewal.is_none() => renewal = Some(Box::pin(renew())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn renews_while_the_work_runs_and_stops_with_it() {
        let renewals = Arc::new(AtomicU32::new(0));
        let counted = renewals.clone();
        let out = renewing(
            tokio::time::sleep(Duration::from_secs(10)),
            Duration::from_secs(3),
            move || {
                let c = counted.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    true
                }
            },
        )
        .await;
        assert_eq!(out, ());
        assert_eq!(renewals.load(Ordering::SeqCst), 3, "at 3, 6 and 9 s");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            renewals.load(Ordering::SeqCst),
            3,
            "none after the work ended"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_waiting_for_a_lock_the_work_holds_does_not_stop_the_work() {
        // The work holds a lock across an await (a transaction that updated the leased row);
        // the renewal needs the same lock (its UPDATE of that row).
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let renewals = Arc::new(AtomicU32::new(0));
        let (work_lock, renew_lock, counted) = (lock.clone(), lock.clone(), renewals.clone());
        let work = async move {
            for _ in 0..3 {
                let _row = work_lock.lock().await;
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            "done"
        };
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            renewing(work, Duration::from_secs(1), move || {
                let (lock, c) = (renew_lock.clone(), counted.clone());
                async move {
                    let _row = lock.lock().await;
                    c.fetch_add(1, Ordering::SeqCst);
                    true
                }
            }),
        )
        .await;
        assert_eq!(out, Ok("done"), "the work went on while a renewal waited");
        assert!(renewals.load(Ordering::SeqCst) >= 1, "renewed meanwhile");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_lease_stops_the_renewals_not_the_work() {
        let renewals = Arc::new(AtomicU32::new(0));
        let counted = renewals.clone();
        let out = renewing(
            async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                7
            },
            Duration::from_secs(1),
            move || {
                let c = counted.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    false
                }
            },
        )
        .await;
        assert_eq!(out, 7, "the work finished");
        assert_eq!(
            renewals.load(Ordering::SeqCst),
            1,
            "no renewal after the loss"
        );
    }
}
