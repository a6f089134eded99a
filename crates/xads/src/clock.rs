//! Wall-clock time, shiftable in tests (e.g. to expire a 10-minute `state` without waiting).
//!
//! The only module that reads the system time (`Utc::now`): everything else asks a [`Clock`] —
//! the domain its `Services::clock`, a CLI command the one it makes at its start — so a test can
//! move time for the whole service (`tests/layers.rs` fails on a `Utc::now` elsewhere).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// The service's clock: the system time plus an offset that only tests change.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Now, as the service sees it.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }
    /// This clock as a plain function (the limiter's `WallClock`).
    pub fn wall_clock(&self) -> Arc<dyn Fn() -> DateTime<Utc> + Send + Sync> {
        let clock = self.clone();
        Arc::new(move || clock.now())
    }
    /// Moves this clock (and every clone) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}
