//! X's user-level windows: one budget per user token across all of its accounts.
//!
//! X caps synchronous analytics at 250 calls per 15 minutes per user token, whatever ad account
//! they are for, and says where its window stands in `x-rate-limit-limit/-remaining/-reset` on
//! every answer. The per-account budget cannot see that cap: a backfill of 20 accounts under one
//! token would send 20 × its budget and collect 429s. This window follows X's own count:
//!
//! - **Untracked** until X first reports a user-level window for the `(token, family)`: calls go
//!   as before (nothing is known yet).
//! - **Known window** (`reset` in the future): a call is let through while `left > 0` and takes
//!   one from it. Each answer sets `left = min(left, remaining − calls still in flight)`: X's
//!   `remaining` already counts the calls it has seen, and a call in flight may or may not be
//!   among them, so counting it again errs towards fewer calls, never a 429. An answer from an
//!   older window (smaller `reset`) changes nothing.
//! - **Window over** (`now ≥ reset`): X's next window starts with its next call, whose answer
//!   tells the new `remaining` and `reset`; so one call (the probe) goes, and the rest wait for
//!   its answer (or for [`PROBE_TTL`] if it never comes). Calls of the old window still in flight
//!   are subtracted from the new one.
//!
//! So the window is used to the last call while work remains (`left` only runs out when X's does)
//! and no call goes that X would refuse. Windows are per `(token, family)`: another token's calls
//! never wait for this one. The state is per process; with several instances each one corrects
//! itself from X's headers, and X's 429 stays the backstop between them.

use std::collections::{HashMap, VecDeque};

use xads_client::gate::{EndpointFamily, LimitScope, RateKey, RateLimitInfo};

/// Families X limits per user token (and whose user-level headers this follows).
pub(crate) const FAMILIES: &[EndpointFamily] = &[EndpointFamily::Analytics];

/// How long a call counts as in flight without an answer (transport failures give none).
pub(crate) const IN_FLIGHT_TTL_US: i64 = 60_000_000;
/// How long the calls of a new window wait for the probe's answer before another probe goes.
pub(crate) const PROBE_TTL_US: i64 = 10_000_000;
/// How often a call waiting for the probe looks again.
pub(crate) const PROBE_POLL_US: i64 = 20_000;

/// What a reservation said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The call may go (one taken from the window; give it back with [`TokenWindows::release`]
    /// if the call does not go after all).
    Go,
    /// Wait this long (µs) for X's window to reset.
    UntilReset(i64),
    /// Wait this long (µs) for the probe of a new window to answer.
    ForProbe(i64),
}

#[derive(Debug)]
struct Window {
    /// End of X's current window (µs); `None` once it passed and no answer of the next came.
    reset: Option<i64>,
    /// Calls X still takes in the current window, less the ones in flight.
    left: i64,
    /// Admission times (µs) of calls not answered yet, oldest first.
    in_flight: VecDeque<i64>,
    /// Until when (µs) the probe of a new window is awaited.
    probe_until: i64,
    /// X has not reported this window yet: calls go, and are counted as in flight.
    untracked: bool,
}

impl Window {
    fn new() -> Window {
        Window {
            reset: None,
            left: 0,
            in_flight: VecDeque::new(),
            probe_until: 0,
            untracked: true,
        }
    }
}

/// The user-level windows of one process, by `(token, family)`.
#[derive(Debug, Default)]
pub(crate) struct TokenWindows {
    windows: HashMap<(String, EndpointFamily), Window>,
}

fn tracked(key: &RateKey) -> bool {
    FAMILIES.contains(&key.family)
}

impl TokenWindows {
    /// Takes one call of `key`'s window at `now` (µs), or says how long to wait. A window is
    /// taken as over `margin` µs after X's `reset` (clocks differ; X counts by its own).
    pub(crate) fn reserve(&mut self, key: &RateKey, now: i64, margin: i64) -> Verdict {
        if !tracked(key) {
            return Verdict::Go;
        }
        let w = self
            .windows
            .entry((key.token_id.clone(), key.family))
            .or_insert_with(Window::new);
        while w
            .in_flight
            .front()
            .is_some_and(|&t| t < now - IN_FLIGHT_TTL_US)
        {
            w.in_flight.pop_front();
        }
        if w.untracked {
            // Nothing known yet; the calls are counted so X's first answer can allow for them.
            w.in_flight.push_back(now);
            return Verdict::Go;
        }
        if w.reset.is_some_and(|reset| now >= reset + margin) {
            // X's window is over; its next one starts with our next call.
            w.reset = None;
            w.left = 0;
            w.probe_until = 0;
        }
        match w.reset {
            Some(reset) if w.left <= 0 => Verdict::UntilReset(reset + margin - now),
            Some(_) => {
                w.left -= 1;
                w.in_flight.push_back(now);
                Verdict::Go
            }
            None if w.probe_until > now => {
                Verdict::ForProbe(PROBE_POLL_US.min(w.probe_until - now))
            }
            None => {
                w.probe_until = now + PROBE_TTL_US;
                w.in_flight.push_back(now);
                Verdict::Go
            }
        }
    }

    /// Gives back a reservation whose call did not go (our own budget made it wait).
    pub(crate) fn release(&mut self, key: &RateKey) {
        if let Some(w) = self.windows.get_mut(&(key.token_id.clone(), key.family)) {
            if w.in_flight.pop_back().is_some() && w.reset.is_some() && !w.untracked {
                w.left += 1;
            } else {
                w.probe_until = 0;
            }
        }
    }

    /// Takes in what X's answer to a call of `key` said about the user-level window.
    pub(crate) fn observe(&mut self, key: &RateKey, info: &RateLimitInfo, _now: i64) {
        if !tracked(key) || info.scope != Some(LimitScope::User) {
            return;
        }
        let (Some(remaining), Some(reset)) = (info.remaining, info.reset) else {
            return;
        };
        let reset = reset.timestamp_micros();
        let remaining = i64::try_from(remaining).unwrap_or(i64::MAX);
        let w = self
            .windows
            .entry((key.token_id.clone(), key.family))
            .or_insert_with(Window::new);
        w.untracked = false;
        // This call is answered (the oldest in flight stands in for it: only the count matters).
        w.in_flight.pop_front();
        let others = w.in_flight.len() as i64;
        match w.reset {
            Some(current) if reset < current => {} // an answer from an older window
            Some(current) if reset == current => {
                w.left = w.left.min(remaining - others).max(0);
            }
            _ => {
                // The first answer of a new window (or the first one seen at all).
                w.reset = Some(reset);
                w.left = (remaining - others).max(0);
                w.probe_until = 0;
            }
        }
    }

    /// Drops the windows of tokens idle for an hour (nothing in flight, no recent reset).
    pub(crate) fn sweep(&mut self, now: i64) {
        self.windows.retain(|_, w| {
            w.in_flight
                .back()
                .is_some_and(|&t| t > now - IN_FLIGHT_TTL_US)
                || w.reset.is_some_and(|r| r > now - 3_600_000_000)
        });
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn key(token: &str, account: &str) -> RateKey {
        RateKey {
            client_id: "c".into(),
            account_id: Some(account.into()),
            token_id: token.into(),
            family: EndpointFamily::Analytics,
        }
    }

    fn info(remaining: u64, reset_s: i64) -> RateLimitInfo {
        RateLimitInfo {
            limit: Some(250),
            remaining: Some(remaining),
            reset: DateTime::<Utc>::from_timestamp(reset_s, 0),
            scope: Some(LimitScope::User),
            retry_after: None,
        }
    }

    const S: i64 = 1_000_000;

    #[test]
    fn a_known_window_lets_through_what_x_has_left_across_accounts_then_waits_for_reset() {
        let mut w = TokenWindows::default();
        let now = 100 * S;
        assert_eq!(w.reserve(&key("t", "a"), now, 0), Verdict::Go, "untracked");
        w.observe(&key("t", "a"), &info(3, 115), now);
        // Three left, whichever account asks.
        for account in ["a", "b", "c"] {
            assert_eq!(w.reserve(&key("t", account), now, 0), Verdict::Go);
        }
        assert_eq!(
            w.reserve(&key("t", "d"), now, 0),
            Verdict::UntilReset(15 * S)
        );
        // Another token is not affected.
        assert_eq!(w.reserve(&key("u", "d"), now, 0), Verdict::Go);
        // A reservation given back can be taken again.
        w.release(&key("t", "c"));
        assert_eq!(w.reserve(&key("t", "c"), now, 0), Verdict::Go);
    }

    #[test]
    fn answers_only_lower_what_is_left_and_count_calls_still_in_flight() {
        let mut w = TokenWindows::default();
        let now = 100 * S;
        w.observe(&key("t", "a"), &info(10, 115), now);
        for _ in 0..4 {
            assert_eq!(w.reserve(&key("t", "a"), now, 0), Verdict::Go);
        }
        // X saw one of the four (remaining 9); three still in flight: 6 left, not 9 - 0.
        w.observe(&key("t", "a"), &info(9, 115), now);
        let mut n = 0;
        while w.reserve(&key("t", "a"), now, 0) == Verdict::Go {
            n += 1;
        }
        assert_eq!(n, 6);
        // A late answer from the previous window changes nothing.
        w.observe(&key("t", "a"), &info(200, 100), now);
        assert!(matches!(
            w.reserve(&key("t", "a"), now, 0),
            Verdict::UntilReset(_)
        ));
    }

    #[test]
    fn a_new_window_sends_one_probe_then_follows_its_answer() {
        let mut w = TokenWindows::default();
        w.observe(&key("t", "a"), &info(0, 115), 100 * S);
        let now = 115 * S;
        assert_eq!(w.reserve(&key("t", "a"), now, 0), Verdict::Go, "the probe");
        assert_eq!(
            w.reserve(&key("t", "b"), now, 0),
            Verdict::ForProbe(PROBE_POLL_US)
        );
        w.observe(&key("t", "a"), &info(249, 130), now);
        let mut n = 0;
        while w.reserve(&key("t", "b"), now, 0) == Verdict::Go {
            n += 1;
        }
        assert_eq!(n, 249);
        // A probe that never answers is replaced after its TTL.
        let mut w = TokenWindows::default();
        w.observe(&key("t", "a"), &info(0, 115), 100 * S);
        assert_eq!(w.reserve(&key("t", "a"), now, 0), Verdict::Go);
        assert_eq!(
            w.reserve(&key("t", "a"), now + PROBE_TTL_US, 0),
            Verdict::Go
        );
    }
}
