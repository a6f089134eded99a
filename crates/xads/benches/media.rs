//! Media upload memory benchmark (issue #6): `cargo bench -p xads --bench media`.
//!
//! Runs the service in live mode against an in-process fake X, connects a tenant, then uploads a
//! generated 200 MiB MP4 (`XADS_BENCH_MEDIA_MIB` changes the size) through `POST …/media` — the request body streamed by the client from a
//! generator, never held whole anywhere. It reports the process's peak resident memory during the
//! upload above the baseline before it, from `/proc/self/status` (`VmHWM`, `VmRSS`; the peak is
//! reset through `/proc/self/clear_refs` first where the kernel allows). Bar: < 64 MB.
//!
//! The figure covers the whole process: the service, the client sending the form, and the fake
//! X receiving 4 MiB segments (its ledger bounded to 16 entries), so it is an upper bound for the
//! service alone.

use std::time::Instant;

use bytes::Bytes;
use xads::app::Application;
use xads::config::Config;
use xads_fake::{FakeConfig, FakeX};

mod common;

/// The video size in MiB: 200, or `XADS_BENCH_MEDIA_MIB` (at most 511: X's video limit).
fn video_bytes() -> u64 {
    let mib = std::env::var("XADS_BENCH_MEDIA_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(200)
        .clamp(1, 511);
    mib * 1024 * 1024
}
const PIECE: usize = 64 * 1024;
const BAR_MB: f64 = 64.0;

/// A `/proc/self/status` field in kB.
fn status_kb(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The MP4 as a stream: ftyp, an empty moov, then the mdat header and its payload in pieces.
fn video_stream() -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let mut head = Vec::new();
    head.extend(20u32.to_be_bytes());
    head.extend(b"ftypisom\0\0\x02\0isom");
    head.extend(8u32.to_be_bytes());
    head.extend(b"moov");
    let payload = video_bytes() - head.len() as u64 - 8;
    head.extend(((payload + 8) as u32).to_be_bytes());
    head.extend(b"mdat");
    let piece = Bytes::from(vec![0x5Au8; PIECE]);
    let full = payload / PIECE as u64;
    let rest = (payload % PIECE as u64) as usize;
    let pieces = std::iter::repeat_n(piece.clone(), full as usize)
        .chain((rest > 0).then(|| piece.slice(..rest)));
    futures::stream::iter(std::iter::once(Bytes::from(head)).chain(pieces).map(Ok))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The fake's ledger keeps up to 64 KiB of every body (plus its text form): bounded here so the
    // figure is not the fake remembering 50 segments.
    let fake = FakeX::start(FakeConfig {
        ledger_capacity: 16,
        ..FakeConfig::default()
    })
    .await
    .expect("fake X");
    let fake_base = fake.base_url().as_str().trim_end_matches('/').to_owned();
    let vars = common::vars(
        &xads::testing::sqlite_url(),
        &fake_base,
        &[
            ("X_ADS_LIVE_MODE", "true"),
            // Pacing is not what this measures: let the ~55 upload calls through at once.
            ("X_ADS_RATE_LIMIT_PER_MINUTE", "10000"),
        ],
    );
    let app = Application::build(Config::from_vars(&vars).expect("config"))
        .await
        .expect("app");
    let base = format!("http://{}", app.local_addr());
    let db = app.state().db.clone();
    tokio::spawn(app.run(std::future::pending()));
    let http = common::http();

    // Connect a tenant, as the browser would.
    let (_, key) = xads::store::tenants::create(&db, "Bench", chrono::Utc::now())
        .await
        .expect("tenant");
    let key = key.0;
    common::connect(&http, &base, &key).await;
    let account = fake.state().seed_info().usd_account_id.clone();

    // Baseline: everything started and connected, before the upload.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let baseline_rss = status_kb("VmRSS");
    let baseline_hwm = status_kb("VmHWM");

    let part = reqwest::multipart::Part::stream_with_length(
        reqwest::Body::wrap_stream(video_stream()),
        video_bytes(),
    )
    .file_name("bench.mp4")
    .mime_str("video/mp4")
    .unwrap();
    let t = Instant::now();
    let resp = http
        .post(format!("{base}/api/v1/x_ads/accounts/{account}/media"))
        .bearer_auth(&key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("upload");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let took = t.elapsed();
    assert_eq!(status, 201, "{body}");
    let appends = fake.state().uploads().pop().map_or(0, |u| u.segments.len());

    let peak_hwm = status_kb("VmHWM");
    let end_rss = status_kb("VmRSS");
    let above = (peak_hwm.saturating_sub(baseline_rss)) as f64 / 1024.0;
    println!(
        "media upload: {} MiB video, {appends} appends, media_key {}, {:.1} s",
        video_bytes() >> 20,
        body["media_key"],
        took.as_secs_f64()
    );
    println!(
        "memory: baseline VmRSS {:.1} MB (VmHWM before {:.1} MB{}), peak VmHWM {:.1} MB, VmRSS after {:.1} MB",
        baseline_rss as f64 / 1024.0,
        baseline_hwm as f64 / 1024.0,
        if reset { ", reset" } else { ", not resettable" },
        peak_hwm as f64 / 1024.0,
        end_rss as f64 / 1024.0,
    );
    println!(
        "peak above baseline: {above:.1} MB (bar < {BAR_MB} MB): {}",
        if above < BAR_MB { "PASS" } else { "FAIL" }
    );
    if above >= BAR_MB {
        std::process::exit(1);
    }
}
