//! When each variant runs.
//!
//! Rotation under one campaign is a **quasi-experiment**: the variants never run at the same
//! time, so time (hour of day, day of week, auction pressure) is confounded with the variant. The
//! switchback design limits that: slots of equal length, and the order shifts by one every day —
//! variant of slot *j* on day *d* is `(j + d) mod V` — so over any V consecutive days every variant
//! covers every time-of-day slot exactly once, and over weeks every weekday alike. What remains
//! (day-to-day trends, competitors' bids) is why results carry intervals and a conservative
//! sequential verdict. `concurrent` runs all variants together (a true split, but X's auction
//! then decides each variant's delivery).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// An experiment's schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Schedule {
    /// One variant at a time, switching every `slot_hours`.
    Rotate {
        /// Slot length; divides 24 so slots line up with days.
        slot_hours: u32,
    },
    /// All variants live together.
    Concurrent,
}

/// Slot lengths that divide a day.
pub const SLOT_HOURS: &[u32] = &[1, 2, 3, 4, 6, 8, 12, 24];

impl Schedule {
    /// Checks the slot length.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Schedule::Rotate { slot_hours } if !SLOT_HOURS.contains(slot_hours) => Err(format!(
                "slot_hours must divide a day: one of {SLOT_HOURS:?}"
            )),
            _ => Ok(()),
        }
    }

    /// The slot index at `now` for an experiment started at `start` (0-based), or `None` before
    /// the start. Concurrent experiments have one slot.
    pub fn slot_at(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
        if now < start {
            return None;
        }
        match self {
            Schedule::Rotate { slot_hours } => {
                Some((now - start).num_seconds() / (i64::from(*slot_hours) * 3600))
            }
            Schedule::Concurrent => Some(0),
        }
    }

    /// Which variants are live in `slot` (indices into the variant list).
    pub fn live_in(&self, slot: i64, variants: usize) -> Vec<usize> {
        match self {
            Schedule::Concurrent => (0..variants).collect(),
            Schedule::Rotate { slot_hours } => {
                let per_day = i64::from(24 / slot_hours);
                let (day, j) = (slot.div_euclid(per_day), slot.rem_euclid(per_day));
                vec![((j + day).rem_euclid(variants as i64)) as usize]
            }
        }
    }

    /// When `slot` starts.
    pub fn slot_start(&self, start: DateTime<Utc>, slot: i64) -> DateTime<Utc> {
        match self {
            Schedule::Rotate { slot_hours } => {
                start + Duration::hours(i64::from(*slot_hours) * slot)
            }
            Schedule::Concurrent => start,
        }
    }

    /// When the next switch happens after `now` (None for concurrent experiments).
    pub fn next_switch(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Rotate { .. } => {
                let slot = self.slot_at(start, now).unwrap_or(-1);
                Some(self.slot_start(start, slot + 1))
            }
            Schedule::Concurrent => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_covers_every_time_of_day_slot_over_v_days() {
        for slot_hours in [2, 3, 4, 6, 8, 12] {
            for variants in 2..=5 {
                let s = Schedule::Rotate { slot_hours };
                let per_day = (24 / slot_hours) as i64;
                // Over V days, count (variant, time-of-day slot) pairs.
                let mut seen = vec![vec![0; per_day as usize]; variants];
                for slot in 0..per_day * variants as i64 {
                    let v = s.live_in(slot, variants)[0];
                    seen[v][(slot % per_day) as usize] += 1;
                }
                assert!(
                    seen.iter().flatten().all(|&n| n == 1),
                    "{slot_hours}h × {variants}: {seen:?}"
                );
            }
        }
    }

    #[test]
    fn slots_and_switches() {
        let start = DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z")
            .unwrap()
            .to_utc();
        let s = Schedule::Rotate { slot_hours: 6 };
        assert_eq!(s.slot_at(start, start - Duration::seconds(1)), None);
        assert_eq!(s.slot_at(start, start + Duration::hours(13)), Some(2));
        assert_eq!(
            s.next_switch(start, start + Duration::hours(13)),
            Some(start + Duration::hours(18))
        );
        assert_eq!(Schedule::Concurrent.live_in(5, 3), vec![0, 1, 2]);
        assert!(Schedule::Rotate { slot_hours: 5 }.validate().is_err());
    }
}
