//! xads: the X (Twitter) Ads integration of a Paid UA dashboard.

pub mod limiter;
