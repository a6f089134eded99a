//! The cursors and page sizes of every `/api/v1` list (`?cursor=&count=`, answered with
//! `next_cursor`; PRODUCT.md §5.1).
//!
//! A cursor is opaque to clients: base64url of a version tag and the last key of the previous
//! page. The mirrors (campaigns, line items, promoted tweets, media) page by their per-tenant
//! position (`store::paging`); the other lists by their sort key. A cursor that is not one this
//! API wrote answers 422 on `cursor`, and `count` is 1 to 1000 (default 200).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::input::Invalid;

/// Entries per page when `count` is not given.
pub const DEFAULT_COUNT: u32 = 200;
/// The largest `count`, X's own limit.
pub const MAX_COUNT: u32 = 1000;

const TAG: &str = "c1";

fn invalid(field: &str, message: &str) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The page size asked for: `count`, 1 to 1000, or the default.
pub fn count(count: Option<u32>) -> Result<i64, Invalid> {
    let count = count.unwrap_or(DEFAULT_COUNT);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(invalid("count", "must be 1 to 1000"));
    }
    Ok(i64::from(count))
}

/// The cursor after a page whose last key is `parts`.
pub fn encode(parts: &[&str]) -> String {
    let mut raw = vec![TAG];
    raw.extend_from_slice(parts);
    URL_SAFE_NO_PAD.encode(serde_json::Value::from(raw).to_string())
}

/// The key a cursor carries (`None` for no cursor or an empty one: the first page), which
/// must have `n` parts.
pub fn decode(cursor: Option<&str>, n: usize) -> Result<Option<Vec<String>>, Invalid> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || invalid("cursor", "not a cursor this API returned");
    let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let mut parts: Vec<String> = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if parts.len() != n + 1 || parts[0] != TAG {
        return Err(bad());
    }
    parts.remove(0);
    Ok(Some(parts))
}

/// The cursor after a mirror page ending at `position`.
pub fn position_cursor(position: i64) -> String {
    encode(&[&position.to_string()])
}

/// The position a mirror cursor carries (0: the first page).
pub fn position(cursor: Option<&str>) -> Result<i64, Invalid> {
    match decode(cursor, 1)? {
        None => Ok(0),
        Some(p) => p[0]
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("cursor", "not a cursor this API returned")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_we_did_not_write() {
        assert_eq!(position(None).unwrap(), 0);
        assert_eq!(position(Some("")).unwrap(), 0);
        assert_eq!(position(Some(&position_cursor(42))).unwrap(), 42);
        let c = encode(&["2026-01-02", "EUR", "ecb"]);
        assert_eq!(
            decode(Some(&c), 3).unwrap().unwrap(),
            ["2026-01-02", "EUR", "ecb"]
        );
        // Any text survives, separators and quotes included.
        let odd = ["a\nb", "\"quoted\", [1]"];
        assert_eq!(decode(Some(&encode(&odd)), 2).unwrap().unwrap(), odd);
        // The old numeric cursors, foreign text, the wrong arity, a zero position: 422 `cursor`.
        for bad in [
            "17",
            "not a cursor",
            "%%%",
            &encode(&["1", "2"]),
            &encode(&["0"]),
        ] {
            assert_eq!(position(Some(bad)).unwrap_err().field, "cursor", "{bad}");
        }
        assert!(
            !position_cursor(7).contains('7'),
            "opaque, not the bare number"
        );
    }

    #[test]
    fn counts_are_one_to_a_thousand() {
        assert_eq!(count(None).unwrap(), 200);
        assert_eq!(count(Some(1)).unwrap(), 1);
        assert_eq!(count(Some(1000)).unwrap(), 1000);
        assert_eq!(count(Some(0)).unwrap_err().field, "count");
        assert_eq!(count(Some(1001)).unwrap_err().field, "count");
    }
}
