//! Logs carry the fields operators need and never a token, code, verifier or secret.

use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use xads_client::models::CampaignCreate;
use xads_client::{CallOptions, ListParams, RetryPolicy, Secret};

use crate::stub::{Reply, Stub, TOKEN};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Buf {
        self.clone()
    }
}

/// Set in the child process that runs the check alone.
const CHILD_ENV: &str = "XADS_CLIENT_LOGGING_CHILD";

/// tracing caches per-callsite interest process-wide; with other tests logging on other threads,
/// a scoped subscriber can miss events. So the check runs alone, in a child process running only
/// this test of this same binary.
#[test]
fn logs_have_fields_and_no_secrets() {
    if std::env::var_os(CHILD_ENV).is_some() {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(check_logs());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "logging::logs_have_fields_and_no_secrets",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "child ran no test:\n{stdout}");
}

async fn check_logs() {
    let buf = Buf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buf.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    // Current-thread runtime: the thread-local default covers every task of this test.
    let _guard = tracing::subscriber::set_default(subscriber);

    let stub = Stub::start(vec![
        Reply::error(500, "INTERNAL_ERROR", "boom"),
        Reply::json(200, r#"{"data":[],"next_cursor":null}"#),
        Reply::error(401, "UNAUTHORIZED_ACCESS", "nope"),
        Reply::Drop,
        Reply::json(
            400,
            r#"{"error":"invalid_grant","error_description":"bad code"}"#,
        ),
    ])
    .await;
    let ads = stub.ads(RetryPolicy::default());
    ads.list_campaigns("acc", &ListParams::new()).await.unwrap();
    ads.create_campaign(
        "acc",
        &CampaignCreate::default(),
        &CallOptions::idempotency_key("k"),
    )
    .await
    .unwrap_err();
    ads.create_campaign("acc", &CampaignCreate::default(), &CallOptions::new())
        .await
        .unwrap_err();
    stub.client(RetryPolicy::default())
        .exchange_code(
            "CODE-XYZ",
            "https://app/cb",
            "VERIFIER-XYZ",
            "cid",
            Some(&Secret::new("CLIENT-SECRET-XYZ")),
        )
        .await
        .unwrap_err();

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    for field in [
        "x.endpoint=\"list_campaigns\"",
        "x.status=500",
        "duration_ms=",
        "attempt=2",
    ] {
        assert!(logs.contains(field), "missing {field} in:\n{logs}");
    }
    assert!(logs.contains("x.endpoint=\"exchange_code\""));
    for secret in [
        TOKEN,
        "CODE-XYZ",
        "VERIFIER-XYZ",
        "CLIENT-SECRET-XYZ",
        "Bearer",
        "Basic ",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into logs:\n{logs}");
    }
}
