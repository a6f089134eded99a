//! Time parsing like X: ISO-8601 with `Z`, `±HH:MM`, `±HHMM`, `±HH`, or a bare date meaning
//! midnight in the ads account's timezone.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Parses an X time parameter; `tz` interprets bare dates.
pub fn parse_time(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(s, "%Y-%m-%dT%H:%M%z") {
        return Some(t.with_timezone(&Utc));
    }
    // `±HH` offsets: pad to `±HH00`.
    if s.len() > 3 {
        let (head, tail) = s.split_at(s.len() - 3);
        if (tail.starts_with('+') || tail.starts_with('-'))
            && tail[1..].chars().all(|c| c.is_ascii_digit())
            && head.contains('T')
        {
            return parse_time(&format!("{s}00"), tz);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return local_midnight(d, tz);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Some(Utc.from_utc_datetime(&t));
    }
    None
}

/// Midnight of `d` in `tz`, as UTC.
pub fn local_midnight(d: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    let naive = d.and_hms_opt(0, 0, 0)?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The account timezone, UTC when unknown.
pub fn tz_of(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}
