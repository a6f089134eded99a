//! The one integration-test binary of the `xads` crate (link time matters on 2 cores).

mod backfill;
mod browser;
mod cli;
mod connect;
mod errors;
mod experiments;
mod faults;
mod fx_fetch;
mod hardening;
mod helpers;
mod installs;
mod keys;
mod leases;
mod leases_sync;
mod levels;
mod limiter;
mod manage;
mod media;
mod numbers;
mod paging;
mod props;
mod reporting;
mod rollup;
mod security;
mod segments;
mod server;
mod snapshot;
mod storage;
mod ui;

use std::sync::{Mutex, Once};

/// Every log line any test in this binary produced (debug level and up), for the secrets check.
pub static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the logs of the whole binary into [`LOGS`] (first call wins).
pub fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .json()
            .with_writer(|| LogSink)
            .try_init();
    });
}

/// The captured logs so far, as text.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// An HTTP client for talking to the service under test (no redirects followed).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
