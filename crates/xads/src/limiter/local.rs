//! The in-process backend: the same decision as the Redis script, on a clock passed in.
//!
//! Kept free of async and of any clock so the decision is a pure function of the state and `now`
//! (µs since the Unix epoch); `mod.rs` supplies the clock and the waiting.

use std::collections::{HashMap, VecDeque};

use xads_client::gate::{EndpointFamily, RateKey};

use super::{Pace, WaitCause};

/// The account part of a key: X account ids are never `-`, so `None` cannot collide with one.
pub(crate) fn account_part(key: &RateKey) -> &str {
    key.account_id.as_deref().unwrap_or("-")
}

/// Whose X hold a key falls under: X's headers are per `(token, account, family)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct HoldKey {
    token_id: String,
    account_id: Option<String>,
    family: EndpointFamily,
}

impl HoldKey {
    fn of(key: &RateKey) -> HoldKey {
        HoldKey {
            token_id: key.token_id.clone(),
            account_id: key.account_id.clone(),
            family: key.family,
        }
    }
}

/// Sliding-window logs and X holds of one process.
///
/// Windows are nested by client then account so a check looks them up by `&str` without
/// allocating (the in-process bar is 1 M checks/s on one core).
#[derive(Debug, Default)]
pub(crate) struct LocalStore {
    /// client_id → account (or `-`) → admission times (µs), oldest first, at most `limit` long.
    windows: HashMap<String, HashMap<String, VecDeque<i64>>>,
    /// Until when (µs) X told us to stop calling for a key.
    holds: HashMap<HoldKey, i64>,
    /// The holds Redis may not know (observed while it was down): a Redis-backed limiter still
    /// honours them after Redis comes back.
    unsynced: HashMap<HoldKey, i64>,
    /// Decisions since the last sweep of idle entries (the in-process analogue of Redis TTLs).
    since_sweep: u32,
}

/// How many decisions pass between sweeps of idle windows and past holds.
const SWEEP_EVERY: u32 = 4096;

impl LocalStore {
    /// One decision at `now` (µs): admits and records the admission, or says how long to wait.
    ///
    /// Same rule as the Redis script: an admission at `t` counts while `now - t <= window_us`, so
    /// every closed interval of length `window_us` holds at most `limit` admissions.
    pub(crate) fn decide(&mut self, key: &RateKey, limit: usize, window_us: i64, now: i64) -> Pace {
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.sweep(window_us, now);
        }
        // Holds are rare: skip building the hold key (two allocations) when there are none.
        if !self.holds.is_empty()
            && let Some(&until) = self.holds.get(&HoldKey::of(key))
            && until > now
        {
            return Pace::wait_us(until - now, WaitCause::XHold);
        }
        let accounts = match self.windows.get_mut(key.client_id.as_str()) {
            Some(accounts) => accounts,
            None => self.windows.entry(key.client_id.clone()).or_default(),
        };
        let account = account_part(key);
        let log = match accounts.get_mut(account) {
            Some(log) => log,
            None => accounts.entry(account.to_owned()).or_default(),
        };
        while log.front().is_some_and(|&t| t < now - window_us) {
            log.pop_front();
        }
        if log.len() < limit {
            log.push_back(now);
            Pace::Admit
        } else {
            let oldest = log.front().copied().unwrap_or(now);
            Pace::wait_us(oldest + window_us + 1 - now, WaitCause::Budget)
        }
    }

    /// Holds calls for `key` until `until` (µs); a later hold wins, an earlier one is ignored.
    /// `in_redis`: Redis stored it too (else it is also kept as unsynced).
    pub(crate) fn hold(&mut self, key: &RateKey, until: i64, now: i64, in_redis: bool) {
        if until <= now {
            return;
        }
        let slot = self.holds.entry(HoldKey::of(key)).or_insert(until);
        *slot = (*slot).max(until);
        if !in_redis {
            let slot = self.unsynced.entry(HoldKey::of(key)).or_insert(until);
            *slot = (*slot).max(until);
        }
    }

    /// A hold on `key` that Redis may not know, still running at `now`: µs left.
    pub(crate) fn unsynced_hold(&self, key: &RateKey, now: i64) -> Option<i64> {
        if self.unsynced.is_empty() {
            return None;
        }
        let until = *self.unsynced.get(&HoldKey::of(key))?;
        (until > now).then_some(until - now)
    }

    /// Drops windows whose every admission has expired and holds already past.
    fn sweep(&mut self, window_us: i64, now: i64) {
        self.since_sweep = 0;
        for accounts in self.windows.values_mut() {
            accounts.retain(|_, log| log.back().is_some_and(|&t| t >= now - window_us));
        }
        self.windows.retain(|_, accounts| !accounts.is_empty());
        self.holds.retain(|_, &mut until| until > now);
        self.unsynced.retain(|_, &mut until| until > now);
    }

    /// How many keys hold state (tests check the sweep keeps memory bounded).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.windows.values().map(HashMap::len).sum::<usize>()
            + self.holds.len()
            + self.unsynced.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(account: &str) -> RateKey {
        RateKey {
            client_id: "c".into(),
            account_id: Some(account.into()),
            token_id: "t".into(),
            family: EndpointFamily::CoreRead,
        }
    }

    #[test]
    fn an_admission_counts_for_exactly_the_closed_window() {
        let mut s = LocalStore::default();
        let k = key("a");
        assert_eq!(s.decide(&k, 1, 100, 1_000), Pace::Admit);
        // Still counted at t + window (closed interval), free one µs later.
        assert_eq!(
            s.decide(&k, 1, 100, 1_100),
            Pace::wait_us(1, WaitCause::Budget)
        );
        assert_eq!(s.decide(&k, 1, 100, 1_101), Pace::Admit);
    }

    #[test]
    fn the_wait_is_until_the_oldest_admission_leaves() {
        let mut s = LocalStore::default();
        let k = key("a");
        for now in [0, 10, 20] {
            assert_eq!(s.decide(&k, 3, 100, now), Pace::Admit);
        }
        assert_eq!(
            s.decide(&k, 3, 100, 30),
            Pace::wait_us(71, WaitCause::Budget)
        );
        // A refused check records nothing: the next slot is still at 101.
        assert_eq!(s.decide(&k, 3, 100, 101), Pace::Admit);
        assert_eq!(
            s.decide(&k, 3, 100, 101),
            Pace::wait_us(10, WaitCause::Budget)
        );
    }

    #[test]
    fn accounts_have_separate_budgets_and_none_is_its_own() {
        let mut s = LocalStore::default();
        let mut none = key("x");
        none.account_id = None;
        assert_eq!(s.decide(&key("a"), 1, 100, 0), Pace::Admit);
        assert_eq!(s.decide(&key("b"), 1, 100, 0), Pace::Admit);
        assert_eq!(s.decide(&none, 1, 100, 0), Pace::Admit);
        assert!(matches!(s.decide(&none, 1, 100, 0), Pace::Wait { .. }));
    }

    #[test]
    fn a_hold_blocks_its_key_only_and_keeps_the_later_reset() {
        let mut s = LocalStore::default();
        let k = key("a");
        s.hold(&k, 500, 0, true);
        s.hold(&k, 300, 0, true);
        assert_eq!(s.unsynced_hold(&k, 100), None, "Redis has it");
        assert_eq!(
            s.decide(&k, 10, 100, 100),
            Pace::wait_us(400, WaitCause::XHold)
        );
        let mut other_family = k.clone();
        other_family.family = EndpointFamily::Write;
        assert_eq!(s.decide(&other_family, 10, 100, 100), Pace::Admit);
        assert_eq!(s.decide(&k, 10, 100, 500), Pace::Admit);
    }

    #[test]
    fn idle_state_is_swept() {
        let mut s = LocalStore::default();
        s.hold(&key("h"), 10, 0, false);
        for i in 0..SWEEP_EVERY - 1 {
            s.decide(&key(&i.to_string()), 1, 100, 0);
        }
        assert!(s.len() > 1);
        s.decide(&key("last"), 1, 100, 1_000);
        assert_eq!(s.len(), 1, "only the key decided after the sweep is left");
    }
}
