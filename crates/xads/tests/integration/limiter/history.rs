//! The Jepsen-style history check (quality.md, "limiter exactness").
//!
//! 32 tasks hammer one key with a limit of 50; every admission time is recorded as the backend
//! saw it (Redis `TIME`, returned by the script), and no closed interval of one window length may
//! hold more than 50. On Redis the tasks are split over two processes: this test binary re-runs
//! itself filtered to `limiter::history_child`, with env vars that make that test the second
//! process, its app clock skewed by 3 s (which must not matter: time comes from Redis).

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};
use xads::limiter::{Decider, Pace, RateLimiter};
use xads_client::gate::RateKey;

use super::{Backend, Harness, key, redis_url};

const LIMIT: u32 = 50;
const TASKS: usize = 32;
const PER_TASK: usize = 5;
/// Set in the child: the parent's key prefix.
const CHILD_PREFIX: &str = "XADS_LIMITER_HISTORY_CHILD";
/// Set in the child: the window in ms.
const CHILD_WINDOW_MS: &str = "XADS_LIMITER_HISTORY_WINDOW_MS";

fn history_key() -> RateKey {
    key(Some("acct-history"))
}

/// The most admissions found in any closed interval `[t, t + window_us]` of the history.
fn max_in_any_window(times: &mut [i64], window_us: i64) -> usize {
    times.sort_unstable();
    let mut max = 0;
    let mut end = 0;
    for start in 0..times.len() {
        while end < times.len() && times[end] <= times[start] + window_us {
            end += 1;
        }
        max = max.max(end - start);
    }
    max
}

#[test]
fn the_checker_sees_an_overfull_window() {
    assert_eq!(
        max_in_any_window(&mut [20, 0, 10], 20),
        3,
        "closed interval"
    );
    assert_eq!(max_in_any_window(&mut [0, 10, 21], 20), 2);
    assert_eq!(
        max_in_any_window(&mut [5, 5, 5, 100], 1),
        3,
        "equal times all count"
    );
}

/// `tasks` tasks each admitted `PER_TASK` times; every admission time, on the backend's clock.
///
/// Half the tasks go through `admit`, which sleeps exactly as long as told and so only ever
/// checks when a slot frees; the other half poll `check` every few ms regardless, so the edges of
/// the window are probed too (an off-by-some expiry would let them in early).
async fn hammer(limiter: &RateLimiter, tasks: usize, source: Decider) -> Vec<i64> {
    let mut handles = Vec::new();
    for task in 0..tasks {
        let limiter = limiter.clone();
        handles.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while times.len() < PER_TASK {
                if task % 2 == 0 {
                    let a = limiter
                        .admit(&history_key())
                        .await
                        .expect("a slot within max_wait");
                    assert_eq!(a.source, source, "decided by the backend under test");
                    times.push(a.at_us);
                    continue;
                }
                let d = limiter.check(&history_key()).await;
                assert_eq!(d.source, source, "decided by the backend under test");
                match d.verdict {
                    Pace::Admit => times.push(d.now_us),
                    Pace::Wait { wait, .. } => {
                        let poll = Duration::from_micros(rand::random_range(500..5_000));
                        tokio::time::sleep(wait.min(poll)).await;
                    }
                }
            }
            times
        }));
    }
    let mut times = Vec::new();
    for h in handles {
        times.extend(h.await.unwrap());
    }
    times
}

fn window_for(backend: Backend) -> Duration {
    match backend {
        // Paused clock: the real length costs nothing.
        Backend::InProcess => Duration::from_secs(60),
        // Redis time runs for real: 160 admissions at 50 per second take about 3 s.
        Backend::Redis => Duration::from_secs(1),
    }
}

/// The parent side: hammers, merges the child's history (Redis), checks every window.
pub(super) async fn run(h: &Harness) {
    let window = window_for(h.backend);
    let limiter = h
        .build(
            h.builder()
                .limit(LIMIT)
                .window(window)
                .max_wait(window * 100),
        )
        .await;
    let (mine, theirs) = match h.backend {
        Backend::InProcess => (
            hammer(&limiter, TASKS, Decider::InProcess).await,
            Vec::new(),
        ),
        Backend::Redis => {
            let mut child = ChildProcess::spawn(&h.prefix, window).await;
            let mine = hammer(&limiter, TASKS / 2, Decider::Redis).await;
            (mine, child.admissions().await)
        }
    };
    if h.backend == Backend::Redis {
        assert_eq!(theirs.len(), TASKS / 2 * PER_TASK, "the child's admissions");
        // The two processes really competed: their histories overlap in time.
        let span = |t: &[i64]| (*t.iter().min().unwrap(), *t.iter().max().unwrap());
        let ((my_first, my_last), (their_first, their_last)) = (span(&mine), span(&theirs));
        assert!(
            my_first < their_last && their_first < my_last,
            "the processes overlapped"
        );
    }
    let mut all: Vec<i64> = mine.into_iter().chain(theirs).collect();
    assert_eq!(all.len(), TASKS * PER_TASK);
    let max = max_in_any_window(&mut all, window.as_micros() as i64);
    assert!(
        max <= LIMIT as usize,
        "{max} admissions in one {window:?} window"
    );
    assert_eq!(
        max, LIMIT as usize,
        "the limit was reached, so the check had teeth"
    );
    assert_eq!(limiter.stats().deadline_exceeded, 0);
}

/// The second process, as seen from the parent.
struct ChildProcess {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl ChildProcess {
    /// Starts this test binary as the child and waits until it is ready to hammer.
    async fn spawn(prefix: &str, window: Duration) -> ChildProcess {
        let exe = std::env::current_exe().unwrap();
        let mut child = tokio::process::Command::new(exe)
            .args([
                "--exact",
                "limiter::history_child",
                "--ignored",
                "--nocapture",
                "-q",
            ])
            .env(CHILD_PREFIX, prefix)
            .env(CHILD_WINDOW_MS, window.as_millis().to_string())
            .env("REDIS_URL", redis_url())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("re-run the test binary");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("READY") {
                    return true;
                }
            }
            false
        };
        let ready = tokio::time::timeout(Duration::from_secs(60), ready).await;
        assert_eq!(ready, Ok(true), "the child process never got ready");
        ChildProcess { child, lines }
    }

    /// Every admission the child printed; fails if it failed.
    async fn admissions(&mut self) -> Vec<i64> {
        let mut times = Vec::new();
        while let Some(line) = self.lines.next_line().await.unwrap() {
            // libtest may print on the same line: take what follows the marker.
            if let Some((_, rest)) = line.split_once("ADMIT ") {
                let at = rest.split_whitespace().next().unwrap();
                times.push(at.parse().unwrap());
            }
        }
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "the child process failed: {status}");
        times
    }
}

/// The child side: runs only when the parent set the env vars.
pub(super) async fn child() {
    let Ok(prefix) = std::env::var(CHILD_PREFIX) else {
        return;
    };
    let window_ms: u64 = std::env::var(CHILD_WINDOW_MS).unwrap().parse().unwrap();
    let skewed = Arc::new(|| Utc::now() + Duration::from_secs(3));
    let limiter = RateLimiter::builder()
        .limit(LIMIT)
        .window(Duration::from_millis(window_ms))
        .max_wait(Duration::from_millis(window_ms) * 100)
        .key_prefix(prefix)
        .app_clock(skewed)
        .redis(&redis_url())
        .await
        .unwrap();
    assert_eq!(
        limiter.stats().redis_failovers,
        0,
        "the child reached redis"
    );
    println!("READY");
    for at in hammer(&limiter, TASKS / 2, Decider::Redis).await {
        println!("ADMIT {at}");
    }
}
