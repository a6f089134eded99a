//! Limiter benchmark (quality.md, performance rows): `cargo bench -p xads --bench limiter`.
//!
//! One run reports, side by side:
//! - Redis: check throughput vs plain `SET` round trips on the **same** `ConnectionManager`
//!   (bar: ratio ≥ 0.5), one call in flight and 16 in flight;
//! - Redis: latency of checks paced at 1 000/s on loopback (bar: p99 < 1 ms);
//! - in-process: checks/s on one thread (bar: ≥ 1 M/s).
//!
//! Each measurement runs for a fixed couple of seconds, so the whole run stays under ~20 s.
//! Redis from `REDIS_URL` (default `redis://127.0.0.1:6379`); without it only the in-process part
//! runs. Keys use a random prefix and expire on their own (TTL of one window + 1 s).

use std::future::Future;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use xads::limiter::{Pace, RateLimiter};
use xads_client::gate::{EndpointFamily, RateKey};

const RUN: Duration = Duration::from_secs(2);
const IN_FLIGHT: usize = 16;
/// Slices per measurement in `side_by_side`.
const SLICES: u32 = 10;

fn key(account: usize) -> RateKey {
    RateKey {
        client_id: "bench-client".to_owned(),
        account_id: Some(format!("acct-{account}")),
        token_id: "bench-conn".to_owned(),
        family: EndpointFamily::CoreRead,
    }
}

/// Runs `op` back to back on `tasks` concurrent loops for `run`; returns (operations, seconds).
async fn throughput<F, Fut>(tasks: usize, run: Duration, op: F) -> (u64, f64)
where
    F: Fn(u64) -> Fut + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let local = tokio::task::LocalSet::new();
    let deadline = Instant::now() + run;
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let op = op.clone();
        handles.push(local.spawn_local(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                op(((t as u64) << 40) | n).await;
                n += 1;
            }
            n
        }));
    }
    let total: u64 = local
        .run_until(async {
            let mut total = 0;
            for h in handles {
                total += h.await.unwrap();
            }
            total
        })
        .await;
    (total, started.elapsed().as_secs_f64())
}

/// Operations per second of each op, measured in `SLICES` alternating slices of `RUN` so that a
/// shared machine's changing load weighs on all of them alike.
async fn side_by_side<F, Fut>(tasks: usize, ops: &[F]) -> Vec<f64>
where
    F: Fn(u64) -> Fut + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let mut totals = vec![(0u64, 0f64); ops.len()];
    for _ in 0..SLICES {
        for (op, total) in ops.iter().zip(totals.iter_mut()) {
            let (n, secs) = throughput(tasks, RUN / SLICES, op.clone()).await;
            total.0 += n;
            total.1 += secs;
        }
    }
    totals
        .into_iter()
        .map(|(n, secs)| n as f64 / secs)
        .collect()
}

fn verdict_tally(admitted: usize, total: usize) -> String {
    format!(
        "{:>3.0}% admitted",
        admitted as f64 * 100.0 / total.max(1) as f64
    )
}

fn mark(ok: bool) -> &'static str {
    if ok { "ok" } else { "BELOW BAR" }
}

async fn redis_part(url: &str) {
    let client = match redis::Client::open(url) {
        Ok(c) => c,
        Err(e) => return println!("redis: invalid url ({e}); skipped"),
    };
    let conn =
        match tokio::time::timeout(Duration::from_secs(2), ConnectionManager::new(client)).await {
            Ok(Ok(conn)) => conn,
            _ => return println!("redis: no redis at {url}; Redis rows skipped"),
        };
    let version: String = redis::cmd("INFO")
        .arg("server")
        .query_async::<String>(&mut conn.clone())
        .await
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("redis_version:").map(str::to_owned))
        })
        .unwrap_or_default();
    let prefix = format!("rlbench{:08x}", rand::random::<u32>());
    println!("Redis {version} at {url}, one multiplexed ConnectionManager for SET and checks");

    // The check under test: the admit path (LPUSH + PEXPIRE) on 64 keys at 50 per 10 ms, which
    // stay mostly under budget, and the over-budget path (the wait) on one hot key at 50/min.
    let admit_path = RateLimiter::builder()
        .limit(50)
        .window(Duration::from_millis(10))
        .key_prefix(format!("{prefix}a"))
        .redis_with(conn.clone())
        .await;
    let hot = RateLimiter::builder()
        .limit(50)
        .key_prefix(format!("{prefix}h"))
        .redis_with(conn.clone())
        .await;
    let set_key = format!("{prefix}:set");

    let before = server_time(&conn).await;
    for tasks in [1, IN_FLIGHT] {
        // One op type for the three workloads, so they alternate slice by slice.
        type Op = std::rc::Rc<dyn Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = ()>>>>;
        let admitted = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let set_op: Op = {
            let (conn, set_key) = (conn.clone(), set_key.clone());
            std::rc::Rc::new(move |i| {
                let (mut conn, set_key) = (conn.clone(), set_key.clone());
                Box::pin(async move {
                    let _: () = redis::cmd("SET")
                        .arg(&set_key)
                        .arg(i)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                })
            })
        };
        let admit_op: Op = {
            let (limiter, admitted) = (admit_path.clone(), admitted.clone());
            std::rc::Rc::new(move |i| {
                let (limiter, admitted) = (limiter.clone(), admitted.clone());
                // Tasks start on different keys so they don't move in lockstep over the same one.
                let account = ((i >> 40) * 13 + (i & 0xff_ffff_ffff)) % 64;
                Box::pin(async move {
                    let d = limiter.check(&key(account as usize)).await;
                    admitted.set(admitted.get() + u64::from(d.verdict == Pace::Admit));
                })
            })
        };
        let over_op: Op = {
            let limiter = hot.clone();
            std::rc::Rc::new(move |_| {
                let limiter = limiter.clone();
                Box::pin(async move {
                    limiter.check(&key(0)).await;
                })
            })
        };
        let ops: Vec<_> = [set_op, admit_op, over_op]
            .into_iter()
            .map(|op| move |i| op(i))
            .collect();
        let rates = side_by_side(tasks, &ops).await;
        let (set, admit, over) = (rates[0], rates[1], rates[2]);
        let admitted_pct = admitted.get() as f64 / (admit * RUN.as_secs_f64()) * 100.0;
        // The bar is about round trips (one call in flight); pipelined, Redis's one thread
        // running the script is the limit, shown by the server time per call below.
        let verdict = |ratio: f64| match tasks {
            1 => format!("{}; bar >= 0.5", mark(ratio >= 0.5)),
            _ => "pipelined: server-bound".to_owned(),
        };
        println!("  {tasks:>2} in flight: SET {set:>9.0}/s");
        println!(
            "  {tasks:>2} in flight: check, admit path {admit:>9.0}/s   ratio {:.2} ({}), ~{admitted_pct:.0}% admitted",
            admit / set,
            verdict(admit / set)
        );
        println!(
            "  {tasks:>2} in flight: check, over budget {over:>8.0}/s   ratio {:.2} ({})",
            over / set,
            verdict(over / set)
        );
    }
    let after = server_time(&conn).await;
    let per_call = |name: &str| {
        let (calls, usec) = (after.get(name), before.get(name));
        match (calls, usec) {
            (Some(a), Some(b)) if a.0 > b.0 => (a.1 - b.1) as f64 / (a.0 - b.0) as f64,
            (Some(a), None) if a.0 > 0 => a.1 as f64 / a.0 as f64,
            _ => f64::NAN,
        }
    };
    println!(
        "  Redis server time per call (INFO commandstats): SET {:.2} µs, check (EVALSHA) {:.2} µs",
        per_call("set"),
        per_call("evalsha")
    );

    // Paced: one check every millisecond for 3 s on 40 accounts at 50/min (two thirds
    // admissions, then over-budget answers, as a busy instance sees), each followed by a SET.
    let paced = RateLimiter::builder()
        .limit(50)
        .key_prefix(format!("{prefix}p"))
        .redis_with(conn.clone())
        .await;
    let set_conn = conn.clone();
    let (checks, sets, admitted) = paced_pair(
        |i| {
            let paced = paced.clone();
            async move {
                let d = paced.check(&key(i % 40)).await;
                d.verdict == Pace::Admit
            }
        },
        |i| {
            let (mut conn, set_key) = (set_conn.clone(), set_key.clone());
            async move {
                let _: () = redis::cmd("SET")
                    .arg(&set_key)
                    .arg(i)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        },
    )
    .await;
    let p99 = checks.quantile(0.99);
    println!(
        "  paced 1000/s x 3 s, check ({}): p50 {:?}  p99 {:?}  max {:?}   ({}; bar p99 < 1 ms)",
        verdict_tally(admitted, checks.0.len()),
        checks.quantile(0.50),
        p99,
        checks.quantile(1.0),
        mark(p99 < Duration::from_millis(1))
    );
    println!(
        "  paced 1000/s x 3 s, SET (baseline):        p50 {:?}  p99 {:?}  max {:?}",
        sets.quantile(0.50),
        sets.quantile(0.99),
        sets.quantile(1.0),
    );
    let _: Result<(), _> = redis::cmd("DEL")
        .arg(&set_key)
        .query_async(&mut conn.clone())
        .await;
    let failovers = admit_path.stats().redis_failovers
        + hot.stats().redis_failovers
        + paced.stats().redis_failovers;
    assert_eq!(failovers, 0, "every check above was decided by Redis");
}

/// Redis's own `calls` and `usec` per command so far (`INFO commandstats`).
async fn server_time(conn: &ConnectionManager) -> std::collections::HashMap<String, (u64, u64)> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn.clone())
        .await
        .unwrap_or_default();
    let field = |rest: &str, name: &str| -> Option<u64> {
        rest.split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    };
    info.lines()
        .filter_map(|line| {
            let (cmd, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            Some((
                cmd.to_owned(),
                (field(rest, "calls")?, field(rest, "usec")?),
            ))
        })
        .collect()
}

/// Sorted latencies.
struct Latencies(Vec<Duration>);

impl Latencies {
    fn quantile(&self, q: f64) -> Duration {
        let i = ((self.0.len() as f64 * q) as usize).min(self.0.len() - 1);
        self.0[i]
    }
}

/// Once per millisecond, 3 000 times: one check and one `SET`, the baseline of what this machine
/// does to a loopback round trip at that moment. Returns both latencies and admissions.
async fn paced_pair<C, CF, S, SF>(check: C, set: S) -> (Latencies, Latencies, usize)
where
    C: Fn(usize) -> CF,
    CF: Future<Output = bool>,
    S: Fn(usize) -> SF,
    SF: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut checks, mut sets, mut admitted) = (Vec::new(), Vec::new(), 0);
    for i in 0..3000 {
        tick.tick().await;
        // Alternate which goes first: the first call after the idle gap also pays for waking
        // Redis (and this thread) up.
        if i % 2 == 1 {
            let started = Instant::now();
            set(i).await;
            sets.push(started.elapsed());
        }
        let started = Instant::now();
        admitted += usize::from(check(i).await);
        checks.push(started.elapsed());
        if i % 2 == 0 {
            let started = Instant::now();
            set(i).await;
            sets.push(started.elapsed());
        }
    }
    checks.sort_unstable();
    sets.sort_unstable();
    (Latencies(checks), Latencies(sets), admitted)
}

/// In-process checks on this one thread, `RUN` long, in batches so the clock is read rarely.
async fn in_process_rate(limiter: &RateLimiter, keys: &[RateKey]) -> (f64, usize) {
    let deadline = Instant::now() + RUN;
    let started = Instant::now();
    let (mut n, mut admitted) = (0usize, 0usize);
    while Instant::now() < deadline {
        for _ in 0..1024 {
            let d = limiter.check(&keys[n % keys.len()]).await;
            admitted += usize::from(d.verdict == Pace::Admit);
            n += 1;
        }
    }
    (
        n as f64 / started.elapsed().as_secs_f64(),
        admitted * 100 / n.max(1),
    )
}

async fn in_process_part() {
    println!("In-process, one thread (current-thread runtime)");
    let one = vec![key(0)];
    let many: Vec<RateKey> = (0..10_000).map(key).collect();
    let cases = [
        (
            "one hot key, over budget (50/min)",
            RateLimiter::in_process(50),
            &one,
        ),
        (
            "one key, admit path (no limit, 10 ms window)",
            RateLimiter::builder()
                .limit(u32::MAX)
                .window(Duration::from_millis(10))
                .in_process(),
            &one,
        ),
        (
            "10 000 accounts round robin (50/min)",
            RateLimiter::in_process(50),
            &many,
        ),
    ];
    for (name, limiter, keys) in cases {
        let (rate, admitted_pct) = in_process_rate(&limiter, keys).await;
        println!(
            "  {name:<46} {:>6.2} M checks/s ({admitted_pct:>3}% admitted)   ({}; bar >= 1 M/s)",
            rate / 1e6,
            mark(rate >= 1e6)
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    println!(
        "xads limiter benchmark, {} logical CPUs, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    runtime.block_on(async {
        redis_part(&url).await;
        in_process_part().await;
    });
}
