//! When to try a call again, and how long to wait first (PRODUCT.md §4.6).
//!
//! * 429: X did not execute the call; wait until X's `reset` (+ a little jitter), else back off.
//!   These waits have their own, small budget and do not use up attempts.
//! * 503: honour `retry-after`. Other 5xx, timeouts, dropped connections: capped exponential
//!   backoff with full jitter, at most `max_attempts` attempts in total.
//! * 4xx other than 429: never retried.
//! * Writes: only 429 (and connections that never reached X) are retried, unless the caller marks
//!   the call `retry_ambiguous` because the service reconciles it exactly-once (PRODUCT.md §4.5).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::error::XError;

/// How persistently a call is retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total for 5xx/transport failures (429 waits are counted separately).
    pub max_attempts: u32,
    /// The first backoff ceiling; doubles per failure.
    pub base_delay: Duration,
    /// The backoff ceiling never exceeds this.
    pub max_delay: Duration,
    /// How many 429s a call may wait out before giving up.
    pub max_rate_limit_waits: u32,
    /// Give up at once when X asks us to wait longer than this (reset or retry-after).
    pub max_wait: Duration,
    /// Up to this much random extra wait after X's reset, so callers don't stampede.
    pub reset_jitter: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_rate_limit_waits: 3,
            // X's windows are 1 or 15 minutes long.
            max_wait: Duration::from_secs(16 * 60),
            reset_jitter: Duration::from_secs(1),
        }
    }
}

/// Why the client is waiting before the next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryReason {
    /// X said 429.
    RateLimited,
    /// 5xx or a transport failure.
    Failure,
}

impl RetryPolicy {
    /// One attempt, no retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            max_rate_limit_waits: 0,
            ..Self::default()
        }
    }

    /// The ceiling of the backoff after `failures` failures: `min(max_delay, base * 2^(failures-1))`.
    pub fn backoff_ceiling(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        self.base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay)
    }

    /// Full jitter: a uniform random wait in `[0, ceiling]`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let ceiling = self.backoff_ceiling(failures);
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }

    fn jitter(&self) -> Duration {
        let ms = u64::try_from(self.reset_jitter.as_millis()).unwrap_or(0);
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }

    /// Decides whether to retry after `err`. `attempts` = attempts made that were not 429s,
    /// `rate_limit_waits` = 429s already waited out. Returns the wait and its reason.
    pub fn decide(
        &self,
        err: &XError,
        is_write: bool,
        retry_ambiguous: bool,
        attempts: u32,
        rate_limit_waits: u32,
        now: DateTime<Utc>,
    ) -> Option<(Duration, RetryReason)> {
        match err {
            XError::Api {
                status: 429,
                rate_limit,
                retry_after,
                ..
            } => {
                if rate_limit_waits >= self.max_rate_limit_waits {
                    return None;
                }
                let until_reset = rate_limit
                    .reset
                    .filter(|reset| *reset > now)
                    .and_then(|reset| (reset - now).to_std().ok());
                let wait = match (until_reset, retry_after) {
                    (Some(d), _) => d + self.jitter(),
                    (None, Some(d)) => *d,
                    (None, None) => self.backoff(rate_limit_waits + 1),
                };
                (wait <= self.max_wait).then_some((wait, RetryReason::RateLimited))
            }
            XError::Api { status, .. } if *status >= 500 => {
                if (is_write && !retry_ambiguous) || attempts >= self.max_attempts {
                    return None;
                }
                let wait = match (status, err) {
                    (
                        503,
                        XError::Api {
                            retry_after: Some(d),
                            ..
                        },
                    ) => *d,
                    _ => self.backoff(attempts),
                };
                (wait <= self.max_wait).then_some((wait, RetryReason::Failure))
            }
            XError::Transport { ambiguous, .. } => {
                // A request that never reached X is as safe to repeat as a read.
                if (is_write && *ambiguous && !retry_ambiguous) || attempts >= self.max_attempts {
                    return None;
                }
                Some((self.backoff(attempts), RetryReason::Failure))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::XErrorItem;
    use crate::gate::RateLimitInfo;

    fn api(status: u16, reset: Option<DateTime<Utc>>, retry_after: Option<u64>) -> XError {
        XError::Api {
            operation: "op",
            status,
            errors: vec![XErrorItem::synthetic("m")],
            rate_limit: Box::new(RateLimitInfo {
                reset,
                ..Default::default()
            }),
            retry_after: retry_after.map(Duration::from_secs),
            request_id: None,
        }
    }

    fn transport(ambiguous: bool) -> XError {
        XError::Transport {
            operation: "op",
            ambiguous,
            timeout: ambiguous,
            message: "m".into(),
        }
    }

    #[test]
    fn backoff_is_capped_exponential_with_full_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_ceiling(1), Duration::from_millis(500));
        assert_eq!(p.backoff_ceiling(3), Duration::from_secs(2));
        assert_eq!(p.backoff_ceiling(40), Duration::from_secs(30));
        for n in 1..10 {
            assert!(p.backoff(n) <= p.backoff_ceiling(n));
        }
    }

    #[test]
    fn rate_limit_waits_until_reset_plus_jitter() {
        let p = RetryPolicy::default();
        let now = Utc::now();
        let reset = now + chrono::Duration::seconds(30);
        let (wait, why) = p
            .decide(&api(429, Some(reset), None), true, false, 1, 0, now)
            .unwrap();
        assert_eq!(why, RetryReason::RateLimited);
        assert!(wait >= Duration::from_secs(30) && wait <= Duration::from_secs(31));
        // Budget of 429 waits exhausted.
        assert!(
            p.decide(&api(429, Some(reset), None), false, false, 1, 3, now)
                .is_none()
        );
        // Reset too far away: give up instead of hanging.
        let far = now + chrono::Duration::hours(2);
        assert!(
            p.decide(&api(429, Some(far), None), false, false, 1, 0, now)
                .is_none()
        );
    }

    #[test]
    fn server_errors_retry_reads_but_not_plain_writes() {
        let p = RetryPolicy::default();
        let now = Utc::now();
        assert!(
            p.decide(&api(500, None, None), false, false, 1, 0, now)
                .is_some()
        );
        assert!(
            p.decide(&api(500, None, None), false, false, 3, 0, now)
                .is_none()
        );
        assert!(
            p.decide(&api(500, None, None), true, false, 1, 0, now)
                .is_none()
        );
        assert!(
            p.decide(&api(500, None, None), true, true, 1, 0, now)
                .is_some()
        );
        let (wait, _) = p
            .decide(&api(503, None, Some(7)), false, false, 1, 0, now)
            .unwrap();
        assert_eq!(wait, Duration::from_secs(7));
        assert!(
            p.decide(&api(400, None, None), false, false, 1, 0, now)
                .is_none()
        );
        assert!(
            p.decide(&api(404, None, None), false, true, 1, 0, now)
                .is_none()
        );
    }

    #[test]
    fn transport_failures_on_writes_retry_only_when_unambiguous_or_guarded() {
        let p = RetryPolicy::default();
        let now = Utc::now();
        assert!(p.decide(&transport(true), true, false, 1, 0, now).is_none());
        assert!(p.decide(&transport(true), true, true, 1, 0, now).is_some());
        assert!(
            p.decide(&transport(false), true, false, 1, 0, now)
                .is_some()
        );
        assert!(
            p.decide(&transport(true), false, false, 1, 0, now)
                .is_some()
        );
    }
}
