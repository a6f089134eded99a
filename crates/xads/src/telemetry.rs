//! Logs on stderr, filtered by `RUST_LOG`. `xads serve` writes JSON lines with fields (plain text
//! with `--log-format text` / `XADS_LOG_FORMAT=text`) at `info` by default; every other command
//! speaks to a person on stdout and logs nothing unless asked — `RUST_LOG` (text lines at that
//! filter) or `--log-format` (that format, at `info` unless `RUST_LOG` says otherwise). Fields
//! carry the context (`ad_account.id`, `x.endpoint`, …); no token, code, verifier or secret is
//! ever a field or part of a message.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per event, fields flattened.
    Json,
}

/// Which logs a command writes: `(format, filter)`, or `None` for none. `service` is `xads
/// serve`; `format` is `--log-format` (or `XADS_LOG_FORMAT`); `rust_log` is `RUST_LOG`.
pub fn choose(
    service: bool,
    format: Option<LogFormat>,
    rust_log: Option<&str>,
) -> Option<(LogFormat, String)> {
    let rust_log = rust_log.map(str::trim).filter(|f| !f.is_empty());
    if service {
        return Some((
            format.unwrap_or(LogFormat::Json),
            rust_log.unwrap_or("info").to_owned(),
        ));
    }
    if format.is_none() && rust_log.is_none() {
        return None;
    }
    Some((
        format.unwrap_or(LogFormat::Text),
        rust_log.unwrap_or("info").to_owned(),
    ))
}

/// Installs the global subscriber for a command (see [`choose`]); later calls are no-ops.
pub fn init_for(service: bool, format: Option<LogFormat>) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let Some((format, filter)) = choose(service, format, rust_log.as_deref()) else {
        return;
    };
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// The service's subscriber (JSON, `RUST_LOG` or `info`); later calls are no-ops (tests call it
/// freely).
pub fn init() {
    init_for(true, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_log_only_when_asked_and_the_service_logs_json() {
        use LogFormat::{Json, Text};
        assert_eq!(
            choose(false, None, None),
            None,
            "a command speaks, it does not log"
        );
        assert_eq!(choose(false, None, Some("  ")), None);
        assert_eq!(
            choose(false, None, Some("debug")),
            Some((Text, "debug".into()))
        );
        assert_eq!(choose(false, Some(Json), None), Some((Json, "info".into())));
        assert_eq!(choose(true, None, None), Some((Json, "info".into())));
        assert_eq!(
            choose(true, Some(Text), Some("warn")),
            Some((Text, "warn".into()))
        );
    }
}
