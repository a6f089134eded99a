//! X's budget in a backfill (quality.md, performance: "X budget in a backfill"):
//! `cargo bench -p xads --bench budget`.
//!
//! The in-process fake X with its synchronous analytics window scaled down from 250 calls per
//! 15 min to 250 per 15 s (`FakeConfig::rate_limits.analytics`). Token A (the fake's main user,
//! three ad accounts) runs a backfill of 1 250 stats calls (7-day hourly windows of 20
//! campaigns, round robin over its accounts, 8 in flight) through the service's own X client and
//! rate limiter; token B (another user) makes one stats call a second meanwhile. From the fake's
//! ledger: 429s per 1 000 calls (bar 0), the calls in each of X's windows for token A (bar ≥ 90 %
//! of 250 while work remains) and how long token B's calls took beside a call made with nothing
//! else running (the other token's backfill must not delay them).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, DurationRound, Utc};
use xads::app::AppState;
use xads::config::Config;
use xads::store::connections::{self, AdAccount, Method, NewTokens};
use xads::store::tenants;
use xads::x::XSession;
use xads_client::Secret;
use xads_client::models::StatsQuery;
use xads_client::vocab::{Granularity, MetricGroup, Placement, StatsEntityType};
use xads_fake::{FakeConfig, FakeX, Limit};

const WINDOW_S: i64 = 15;
const LIMIT: u32 = 250;
const CALLS: u64 = 1_250;
const IN_FLIGHT: usize = 8;

fn vars(fake: &FakeX) -> HashMap<String, String> {
    let base = fake.base_url().as_str().trim_end_matches('/').to_owned();
    [
        ("XADS_BIND", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", xads::testing::sqlite_url()),
        ("X_ADS_CLIENT_ID", "fake-client-id".to_owned()),
        ("X_ADS_CLIENT_SECRET", "fake-client-secret".to_owned()),
        ("X_ADS_API_BASE_URL", base.clone()),
        ("X_API_BASE_URL", base),
        (
            "XADS_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
        ),
        // Our own per-account budget out of the way: the window under test is X's per token.
        ("X_ADS_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A tenant connected as `user_id` with `accounts`; its session.
async fn connect(state: &AppState, fake: &FakeX, user_id: &str, accounts: &[String]) -> XSession {
    let (tenant, _) = tenants::create(&state.db, user_id, Utc::now())
        .await
        .unwrap();
    let pair = fake
        .state()
        .issue_tokens(user_id, "ads.read ads.write offline.access");
    let access = Secret::new(&pair.access_token);
    let refresh = pair.refresh_token.as_deref().map(Secret::new);
    connections::save_grant(
        &state.db,
        &state.sealer,
        &tenant.id,
        Method::OAuth2,
        "ads.read ads.write offline.access",
        NewTokens {
            access: &access,
            refresh: refresh.as_ref(),
            expires_at: Some(Utc::now() + Duration::hours(2)),
        },
        Utc::now(),
    )
    .await
    .unwrap();
    let rows: Vec<AdAccount> = accounts
        .iter()
        .map(|id| AdAccount {
            id: id.clone(),
            name: id.clone(),
            timezone: "UTC".into(),
            currency: Some("USD".into()),
            approval_status: None,
        })
        .collect();
    connections::replace_ad_accounts(&state.db, &tenant.id, &rows, Utc::now())
        .await
        .unwrap();
    XSession::for_tenant(state, &tenant.id).await.unwrap()
}

/// The stats call of `account` for the `i`-th 7-day window back from now.
fn query(fake: &FakeX, account: &str, i: u64) -> StatsQuery {
    let ids: Vec<String> = fake
        .state()
        .campaigns(account)
        .into_iter()
        .take(20)
        .map(|c| c.id)
        .collect();
    let end = Utc::now().duration_trunc(Duration::hours(1)).unwrap()
        - Duration::days(7 * (i as i64 % 50));
    StatsQuery {
        entity: StatsEntityType::Campaign,
        entity_ids: ids,
        start_time: end - Duration::days(7),
        end_time: end,
        granularity: Granularity::Hour,
        placement: Placement::AllOnTwitter,
        metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
    }
}

async fn one_call(session: &XSession, fake: &FakeX, account: &str, i: u64) -> StdDuration {
    let q = query(fake, account, i);
    let started = Instant::now();
    session
        .call(|x| {
            let (q, account) = (q.clone(), account.to_owned());
            async move { x.stats(&account, &q).await }
        })
        .await
        .expect("stats call");
    started.elapsed()
}

fn median(mut v: Vec<StdDuration>) -> StdDuration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut cfg = FakeConfig::default();
        cfg.rate_limits.analytics = Limit::new(LIMIT, WINDOW_S);
        let fake = Arc::new(FakeX::start(cfg).await.expect("fake X"));
        let state = AppState::from_config(Config::from_vars(&vars(&fake)).expect("config"))
            .await
            .expect("state");
        let seed = fake.state().seed_info();
        let a_accounts = vec![
            seed.usd_account_id.clone(),
            seed.jpy_account_id.clone(),
            seed.kwd_account_id.clone(),
        ];
        let a = connect(&state, &fake, &seed.user_id, &a_accounts).await;
        let b_account = seed.foreign_account_id.clone();
        let b = connect(&state, &fake, &seed.other_user_id, std::slice::from_ref(&b_account)).await;

        // Token B alone: the reference for its calls' time.
        let mut alone = Vec::new();
        for i in 0..10 {
            alone.push(one_call(&b, &fake, &b_account, i).await);
        }
        fake.state().reset_rate_limits();
        fake.state().clear_ledger();

        let left = Arc::new(AtomicU64::new(CALLS));
        let started = Instant::now();
        let mut workers = Vec::new();
        for w in 0..IN_FLIGHT {
            let (a, fake, left, accounts) = (a.clone(), fake.clone(), left.clone(), a_accounts.clone());
            workers.push(tokio::spawn(async move {
                let mut n = w as u64;
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
                    .is_ok()
                {
                    let account = &accounts[(n % accounts.len() as u64) as usize];
                    one_call(&a, &fake, account, n).await;
                    n += IN_FLIGHT as u64;
                }
            }));
        }
        let mut beside = Vec::new();
        let mut i = 0;
        while workers.iter().any(|w| !w.is_finished()) {
            beside.push(one_call(&b, &fake, &b_account, i).await);
            i += 1;
            tokio::time::sleep(StdDuration::from_secs(1)).await;
        }
        for w in workers {
            w.await.unwrap();
        }
        let elapsed = started.elapsed();

        // X's windows for token A, replayed from the ledger as the fake keeps them.
        let ledger = fake.state().ledger();
        let stats: Vec<_> = ledger
            .iter()
            .filter(|e| e.path.starts_with("/12/stats/accounts/"))
            .collect();
        let a_calls: Vec<_> = stats
            .iter()
            .filter(|e| a_accounts.iter().any(|acct| e.path.ends_with(acct.as_str())))
            .collect();
        let refused = stats.iter().filter(|e| e.status == Some(429)).count();
        let mut windows: Vec<u32> = Vec::new();
        let mut start: Option<i64> = None;
        for e in &a_calls {
            let t = e.at.timestamp();
            if start.is_none_or(|s| t >= s + WINDOW_S) {
                start = Some(t);
                windows.push(0);
            }
            if e.status != Some(429) {
                *windows.last_mut().unwrap() += 1;
            }
        }
        let (_, full) = windows.split_last().unwrap();
        let lowest = full.iter().min().copied().unwrap_or(0);
        println!(
            "## X budget in a backfill: {CALLS} stats calls under one token (3 accounts, {IN_FLIGHT} in flight), \
             X window {LIMIT} calls / {WINDOW_S} s"
        );
        println!(
            "token A: {} calls in {:.1?}, 429s: {refused} = {:.2} per 1 000 calls  [bar 0]",
            a_calls.len(),
            elapsed,
            refused as f64 * 1000.0 / stats.len().max(1) as f64
        );
        println!(
            "calls per X window: {windows:?}; lowest window while work remained: {lowest} = {:.1} %  [bar ≥ 90 %]",
            lowest as f64 * 100.0 / LIMIT as f64
        );
        let (alone_m, beside_m) = (median(alone), median(beside.clone()));
        println!(
            "token B: {} calls beside the backfill, median {:.1?} (max {:.1?}) vs {:.1?} alone = {:.2} ×  \
             [not delayed: no wait for A's window]",
            beside.len(),
            beside_m,
            beside.iter().max().unwrap(),
            alone_m,
            beside_m.as_secs_f64() / alone_m.as_secs_f64()
        );
        let limiter = state.limiter.stats();
        println!(
            "limiter: admitted {}, waited {} (held by X's window {}), total wait {:.1?}",
            limiter.admitted, limiter.waited, limiter.held_by_x, limiter.wait_time
        );
    });
}
