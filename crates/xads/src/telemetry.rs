//! Structured logs: JSON lines on stderr (plain text with `XADS_LOG_FORMAT=text`), filtered by
//! `RUST_LOG` (default `info`). Fields carry the context (`ad_account.id`, `x.endpoint`, …);
//! no token, code, verifier or secret is ever a field or part of a message.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are no-ops (tests call it freely).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let text = std::env::var("XADS_LOG_FORMAT").is_ok_and(|v| v == "text");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if text {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    };
}
