//! Fault injection: rules matched by method and path prefix, optionally for the next N requests only.

use serde::{Deserialize, Serialize};

/// What a matching request suffers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 `TOO_MANY_REQUESTS` with `x-rate-limit-remaining: 0` and a reset `reset_after_secs` ahead; not executed.
    RateLimited {
        /// Seconds until the advertised reset.
        reset_after_secs: i64,
    },
    /// 503 `SERVICE_UNAVAILABLE` with `retry-after`; not executed.
    ServiceUnavailable {
        /// The `retry-after` seconds.
        retry_after_secs: u64,
    },
    /// 500 `INTERNAL_ERROR` JSON; not executed.
    InternalError,
    /// 502 with an HTML body (not JSON); not executed.
    BadGatewayHtml,
    /// 504 with an HTML body; not executed.
    GatewayTimeoutHtml,
    /// Waits this long, then answers normally.
    Latency {
        /// Added delay in milliseconds.
        ms: u64,
    },
    /// Executes the request (the write commits), then closes the connection without a response.
    DropAfterCommit,
    /// Closes the connection without executing the request.
    DropBeforeCommit,
    /// Executes the request and answers a complete HTTP response whose JSON body is cut in half.
    TruncatedBody,
    /// Holds the request until the named gate is opened ([`crate::FakeState::open_gate`]), then
    /// executes and answers it normally: a write X keeps waiting for as long as a test needs.
    Hold {
        /// The gate's name.
        gate: String,
    },
    /// Closes the connection at once without an answer, and executes the request only when the
    /// named gate is opened: X committing a write after the caller gave up on it.
    CommitLate {
        /// The gate's name.
        gate: String,
    },
    /// Makes media processing (finalize/STATUS) end in `failed` with this message.
    MediaProcessingFailed {
        /// Error message shown in `processing_info.error`.
        message: String,
    },
    /// On `POST /12/stats/jobs/...`: the job is created and later ends `FAILED` (no result).
    JobFailed,
    /// On `POST /12/stats/jobs/...`: the job's result expires as soon as it is ready (its
    /// download answers 404).
    JobExpired,
}

impl FaultKind {
    /// Short name recorded in the ledger.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::RateLimited { .. } => "rate_limited",
            FaultKind::ServiceUnavailable { .. } => "service_unavailable",
            FaultKind::InternalError => "internal_error",
            FaultKind::BadGatewayHtml => "bad_gateway_html",
            FaultKind::GatewayTimeoutHtml => "gateway_timeout_html",
            FaultKind::Latency { .. } => "latency",
            FaultKind::DropAfterCommit => "drop_after_commit",
            FaultKind::DropBeforeCommit => "drop_before_commit",
            FaultKind::TruncatedBody => "truncated_body",
            FaultKind::Hold { .. } => "hold",
            FaultKind::CommitLate { .. } => "commit_late",
            FaultKind::MediaProcessingFailed { .. } => "media_processing_failed",
            FaultKind::JobFailed => "job_failed",
            FaultKind::JobExpired => "job_expired",
        }
    }
}

/// A fault rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Only this method (any when `None`), case-insensitive.
    #[serde(default)]
    pub method: Option<String>,
    /// Only paths starting with this prefix (e.g. `/12/accounts/18ce54d4x5t/campaigns`).
    pub path_prefix: String,
    /// Fire for the next N matching requests only (forever when `None`).
    #[serde(default)]
    pub times: Option<u32>,
    /// The fault.
    #[serde(flatten)]
    pub kind: FaultKind,
}

impl FaultRule {
    /// A rule for `method` (or any, with `None`) on `path_prefix`, firing forever.
    pub fn new(method: Option<&str>, path_prefix: &str, kind: FaultKind) -> Self {
        FaultRule {
            method: method.map(str::to_ascii_uppercase),
            path_prefix: path_prefix.into(),
            times: None,
            kind,
        }
    }

    /// Limits the rule to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
            && self.times != Some(0)
    }
}

/// The active rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    /// Adds a rule.
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    /// Removes all rules.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// Active rules.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    /// Takes the first matching rule's fault, consuming one use.
    pub fn take(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        let idx = self.rules.iter().position(|r| r.matches(method, path))?;
        let rule = &mut self.rules[idx];
        let kind = rule.kind.clone();
        if let Some(n) = rule.times.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.rules.remove(idx);
            }
        }
        Some(kind)
    }
}
