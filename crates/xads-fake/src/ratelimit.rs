//! X's rate limits: fixed windows per (user token, endpoint family) and per (account, endpoint)
//! for core entity reads, with X's headers on every answer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::config::{Limit, RateLimitConfig};

/// Core entity resources whose GETs are limited per ad account (x-account-rate-limit-*).
const CORE: &[&str] = &[
    "campaigns",
    "line_items",
    "promoted_tweets",
    "funding_instruments",
    "media_library",
];

/// Which buckets a request counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    /// User-level bucket key (without the user) and limit.
    pub user: (String, Limit),
    /// Account-level bucket key and limit, on core entity GETs.
    pub account: Option<(String, Limit)>,
}

/// Classifies a request into X's families; `None` for unlimited routes (OAuth, control).
pub fn classify(cfg: &RateLimitConfig, method: &str, path: &str) -> Option<Buckets> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if path.starts_with("/2/media") {
        return Some(Buckets {
            user: ("media".into(), cfg.media_upload),
            account: None,
        });
    }
    if segs.first() != Some(&"12") {
        return None;
    }
    if method != "GET" {
        return Some(Buckets {
            user: ("writes".into(), cfg.writes),
            account: None,
        });
    }
    // Job polls are not synchronous analytics (X's table has no bucket for them): an
    // endpoint-level read quota like other account GETs.
    if segs.get(1) == Some(&"stats") && segs.get(2) == Some(&"jobs") {
        return Some(Buckets {
            user: ("other:stats/jobs".into(), cfg.other_reads),
            account: None,
        });
    }
    if segs.get(1) == Some(&"stats") {
        return Some(Buckets {
            user: ("analytics".into(), cfg.analytics),
            account: None,
        });
    }
    if segs.get(1) != Some(&"accounts") {
        return Some(Buckets {
            user: (format!("global:{}", segs.join("/")), cfg.global_reads),
            account: None,
        });
    }
    if segs.get(3) == Some(&"targeting_criteria") {
        return Some(Buckets {
            user: ("targeting".into(), cfg.targeting),
            account: None,
        });
    }
    // Endpoint identity ignores the entity id: GET campaigns and GET campaigns/:id are two endpoints.
    match (segs.get(1), segs.get(2), segs.get(3)) {
        (Some(&"accounts"), Some(account), Some(resource)) if CORE.contains(resource) => {
            let endpoint = if segs.len() > 4 {
                format!("{resource}/:id")
            } else {
                (*resource).to_string()
            };
            Some(Buckets {
                user: (format!("core:{endpoint}"), cfg.core_reads_user),
                account: Some((format!("{account}:{endpoint}"), cfg.core_reads_account)),
            })
        }
        _ => {
            let endpoint: Vec<&str> = segs
                .iter()
                .enumerate()
                .map(|(i, s)| if i == 2 { ":id" } else { s })
                .collect();
            Some(Buckets {
                user: (format!("other:{}", endpoint.join("/")), cfg.other_reads),
                account: None,
            })
        }
    }
}

/// State of one bucket after a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// The limit.
    pub limit: u32,
    /// Remaining after this request.
    pub remaining: u32,
    /// Window end, epoch seconds.
    pub reset: i64,
    /// This request went over the limit.
    pub exceeded: bool,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    count: u32,
}

/// All windows.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: HashMap<String, Window>,
}

impl RateLimiter {
    /// Counts one request against `key`.
    pub fn hit(&mut self, key: &str, limit: Limit, now: DateTime<Utc>) -> Snapshot {
        let now = now.timestamp();
        let w = self.windows.entry(key.to_string()).or_insert(Window {
            start: now,
            count: 0,
        });
        if now >= w.start + limit.window_secs {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        let exceeded = w.count >= limit.limit;
        if !exceeded {
            w.count += 1;
        }
        Snapshot {
            limit: limit.limit,
            remaining: limit.limit - w.count,
            reset: w.start + limit.window_secs,
            exceeded,
        }
    }

    /// Forgets all windows.
    pub fn clear(&mut self) {
        self.windows.clear();
    }
}
