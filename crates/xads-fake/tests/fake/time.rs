//! X's accepted time forms: `Z`, `±HH:MM`, `±HHMM`, `±HH`, and bare dates in the account's zone.

use chrono::{TimeZone, Utc};
use xads_fake::time::{parse_time, tz_of};

#[test]
fn every_iso_offset_form_and_bare_dates_parse_like_x() {
    let la = tz_of("America/Los_Angeles");
    let want = Utc.with_ymd_and_hms(2026, 5, 19, 7, 0, 0).unwrap();
    for s in [
        "2026-05-19T07:00:00Z",
        "2026-05-19T00:00:00-07:00",
        "2026-05-19T00:00:00-0700",
        "2026-05-19T00:00:00-07",
        "2026-05-19",
    ] {
        assert_eq!(parse_time(s, la), Some(want), "{s}");
    }
    let tokyo = tz_of("Asia/Tokyo");
    assert_eq!(
        parse_time("2026-05-19", tokyo),
        Some(Utc.with_ymd_and_hms(2026, 5, 18, 15, 0, 0).unwrap())
    );
    assert_eq!(parse_time("yesterday", la), None);
}
