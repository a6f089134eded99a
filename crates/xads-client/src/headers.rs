//! Reading X's response headers: rate limits and request ids.
//!
//! Headers are advisory: a missing or garbled value is ignored rather than failing the call.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::gate::{LimitScope, RateLimitInfo};

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok()
}

fn epoch(secs: u64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(i64::try_from(secs).ok()?, 0)
}

fn family(headers: &HeaderMap, prefix: &str) -> Option<(Option<u64>, Option<u64>, Option<u64>)> {
    let limit = header_u64(headers, &format!("{prefix}-limit"));
    let remaining = header_u64(headers, &format!("{prefix}-remaining"));
    let reset = header_u64(headers, &format!("{prefix}-reset"));
    (limit.is_some() || remaining.is_some() || reset.is_some()).then_some((limit, remaining, reset))
}

/// Parses X's rate-limit headers: `x-account-rate-limit-*` wins over `x-rate-limit-*` (X says the
/// account-level family takes precedence where present); `reset` is Unix epoch seconds;
/// `retry-after` is seconds.
pub fn parse_rate_limit(headers: &HeaderMap) -> RateLimitInfo {
    let picked = family(headers, "x-account-rate-limit")
        .map(|v| (v, LimitScope::Account))
        .or_else(|| family(headers, "x-rate-limit").map(|v| (v, LimitScope::User)));
    let mut info = RateLimitInfo {
        retry_after: header_u64(headers, "retry-after").map(Duration::from_secs),
        ..RateLimitInfo::default()
    };
    if let Some(((limit, remaining, reset), scope)) = picked {
        info.limit = limit;
        info.remaining = remaining;
        info.reset = reset.and_then(epoch);
        info.scope = Some(scope);
    }
    info
}

/// X's async-job concurrency headers (`X-Concurrent-Job-Limit`, `-Remaining`).
pub fn parse_job_limit(headers: &HeaderMap) -> crate::models::JobLimit {
    crate::models::JobLimit {
        limit: header_u64(headers, "x-concurrent-job-limit"),
        remaining: header_u64(headers, "x-concurrent-job-limit-remaining"),
    }
}

/// X's id for the request (`x-transaction`, else `x-request-id`), useful in support tickets.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-transaction", "x-request-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok().map(str::to_owned))
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn account_family_is_preferred() {
        let info = parse_rate_limit(&map(&[
            ("x-rate-limit-limit", "10000"),
            ("x-rate-limit-remaining", "9999"),
            ("x-rate-limit-reset", "1700000000"),
            ("x-account-rate-limit-limit", "2000"),
            ("x-account-rate-limit-remaining", "0"),
            ("x-account-rate-limit-reset", "1700000900"),
        ]));
        assert_eq!(info.scope, Some(LimitScope::Account));
        assert_eq!(info.limit, Some(2000));
        assert_eq!(info.remaining, Some(0));
        assert_eq!(info.reset.unwrap().timestamp(), 1_700_000_900);
        assert!(info.exhausted());
    }

    #[test]
    fn user_family_and_retry_after() {
        let info = parse_rate_limit(&map(&[
            ("x-rate-limit-limit", "450"),
            ("x-rate-limit-remaining", "449"),
            ("x-rate-limit-reset", "1700000000"),
            ("retry-after", "7"),
        ]));
        assert_eq!(info.scope, Some(LimitScope::User));
        assert_eq!(info.remaining, Some(449));
        assert_eq!(info.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn garbage_and_missing_headers_are_ignored() {
        let info = parse_rate_limit(&map(&[
            ("x-rate-limit-limit", "lots"),
            ("x-rate-limit-remaining", "-1"),
            ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ]));
        assert_eq!(info, RateLimitInfo::default());
        assert_eq!(
            parse_rate_limit(&HeaderMap::new()),
            RateLimitInfo::default()
        );
    }

    #[test]
    fn job_limit_headers() {
        let l = parse_job_limit(&map(&[
            ("X-Concurrent-Job-Limit", "100"),
            ("x-concurrent-job-limit-remaining", "97"),
        ]));
        assert_eq!((l.limit, l.remaining), (Some(100), Some(97)));
        assert_eq!(parse_job_limit(&HeaderMap::new()), Default::default());
    }

    #[test]
    fn request_id_from_transaction_header() {
        assert_eq!(
            request_id(&map(&[("x-transaction", "abc123")])).as_deref(),
            Some("abc123")
        );
        assert_eq!(
            request_id(&map(&[("x-request-id", "r-1")])).as_deref(),
            Some("r-1")
        );
        assert_eq!(request_id(&HeaderMap::new()), None);
    }
}
