//! X's rate-limit headers and 429 when a window is spent.

use chrono::Duration;
use xads_fake::{FakeConfig, Limit, RateLimitConfig};

use crate::support::{T, config};

#[tokio::test]
async fn core_reads_carry_user_and_account_headers() {
    let t = T::new().await;
    let a = t
        .get(&format!("/12/accounts/{}/campaigns", t.usd()), &[])
        .await;
    assert_eq!(a.header("x-account-rate-limit-limit"), Some("10000"));
    assert_eq!(a.header("x-account-rate-limit-remaining"), Some("9999"));
    let reset: i64 = a
        .header("x-account-rate-limit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reset, t.fake.now().timestamp() + 900);
    assert!(a.header("x-rate-limit-limit").is_some());
    let s = t.get("/12/accounts", &[]).await;
    assert_eq!(s.header("x-rate-limit-limit"), Some("2000"));
    assert!(s.header("x-account-rate-limit-limit").is_none());
}

#[tokio::test]
async fn exceeding_a_window_answers_429_until_reset() {
    let t = T::with(FakeConfig {
        rate_limits: RateLimitConfig {
            core_reads_account: Limit::new(2, 900),
            writes: Limit::new(1, 60),
            ..RateLimitConfig::default()
        },
        ..config()
    })
    .await;
    let p = format!("/12/accounts/{}/campaigns", t.usd());
    assert_eq!(
        t.get(&p, &[])
            .await
            .header("x-account-rate-limit-remaining"),
        Some("1")
    );
    assert_eq!(t.get(&p, &[]).await.status, 200);
    let over = t.get(&p, &[]).await;
    assert_eq!(over.status, 429);
    assert_eq!(over.error_code(), "TOO_MANY_REQUESTS");
    assert_eq!(over.body["errors"][0]["message"], "Rate limit exceeded");
    assert_eq!(over.header("x-account-rate-limit-remaining"), Some("0"));
    assert!(over.header("x-account-rate-limit-reset").is_some());
    // Another endpoint has its own window.
    assert_eq!(
        t.get(&format!("/12/accounts/{}/line_items", t.usd()), &[])
            .await
            .status,
        200
    );
    t.fake.advance_clock(Duration::minutes(15));
    assert_eq!(t.get(&p, &[]).await.status, 200);

    let fi = t.fake.seed_info().accounts[0].funding_instrument_id.clone();
    let q = [("funding_instrument_id", fi.as_str()), ("name", "w")];
    assert_eq!(t.post(&p, &q).await.status, 200);
    let before = t.fake.counts(&t.usd()).campaigns;
    assert_eq!(t.post(&p, &q).await.status, 429);
    assert_eq!(
        t.fake.counts(&t.usd()).campaigns,
        before,
        "a 429 is not executed"
    );
    t.fake.advance_clock(Duration::seconds(60));
    assert_eq!(t.post(&p, &q).await.status, 200);
}
