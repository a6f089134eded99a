//! Sync benchmark (quality.md, performance rows): `cargo bench -p xads --bench sync`.
//!
//! 1. X calls per synced entity: an account of 750 entities (150 campaigns × 2 line items × 1
//!    promoted tweet) in the fake X; one first sync (7-day backfill), then one hourly sync, counted
//!    from the fake's ledger (bar ≤ 0.10), beside the naive per-entity loop's figure.
//! 2. Ingestion (parse + FX + upsert) of ~100 k hourly rows in X's response format, on SQLite and
//!    PostgreSQL (bar ≥ 100 k rows/s), and a plain PostgreSQL `COPY` of the same rows for the ratio:
//!    new rows, the same rows again (an hourly sync's unrevised hours) and every row revised.
//!
//! PostgreSQL from `XADS_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! without it only SQLite runs. Each ingestion figure is the median of 3 runs.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::Connection;
use xads::app::AppState;
use xads::config::Config;
use xads::db::Db;
use xads::store::connections::{self, AdAccount, Method, NewTokens};
use xads::store::stats::{COUNTS, StatRow, column_list};
use xads::store::sync_runs::{SyncTarget, Trigger};
use xads::store::{fx_rates, tenants};
use xads::sync::{self, Request, Silent, ingest};
use xads_client::Secret;
use xads_client::models::StatsResponse;
use xads_client::vocab::{self, MetricGroup, Placement, StatsEntityType};
use xads_fake::{FakeConfig, FakeX, hourly_metrics};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-20T10:30:00Z")
        .unwrap()
        .to_utc()
}

fn vars(db: &str, fake: &FakeX) -> HashMap<String, String> {
    let base = fake.base_url().as_str().trim_end_matches('/').to_owned();
    [
        ("XADS_BIND", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", db.to_owned()),
        ("XADS_FX_URL", "off".to_owned()),
        ("X_ADS_CLIENT_ID", "fake-client-id".to_owned()),
        ("X_ADS_CLIENT_SECRET", "fake-client-secret".to_owned()),
        ("X_ADS_API_BASE_URL", base.clone()),
        ("X_API_BASE_URL", base.clone()),
        (
            "XADS_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
        ),
        // The benchmark counts calls, not waits: a budget the sync never meets.
        ("X_ADS_RATE_LIMIT_PER_MINUTE", "10000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn calls_per_entity() {
    let fake = FakeX::start(FakeConfig {
        campaigns_per_account: 150,
        line_items_per_campaign: 2,
        promoted_tweets_per_line_item: 1,
        history_days: 100,
        start_time: Some(t0()),
        ..FakeConfig::default()
    })
    .await
    .expect("fake X");
    let seed = fake.state().seed_info();
    let account = seed.account(&seed.usd_account_id).unwrap().clone();
    let counts = fake.counts(&account.id);
    let entities = counts.campaigns + counts.line_items + counts.promoted_tweets;

    let state = AppState::from_config(
        Config::from_vars(&vars(&xads::testing::sqlite_url(), &fake)).expect("config"),
    )
    .await
    .expect("state");
    state.clock.advance(t0() - Utc::now());
    let (tenant, _) = tenants::create(&state.db, "bench", chrono::Utc::now())
        .await
        .unwrap();
    let pair = fake
        .state()
        .issue_tokens(&seed.user_id, "ads.read ads.write offline.access");
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
            expires_at: Some(state.clock.now() + Duration::hours(2)),
        },
        state.clock.now(),
    )
    .await
    .unwrap();
    connections::replace_ad_accounts(
        &state.db,
        &tenant.id,
        &[AdAccount {
            id: account.id.clone(),
            name: "bench".into(),
            timezone: account.timezone.clone(),
            currency: Some(account.currency.clone()),
            approval_status: None,
        }],
        state.clock.now(),
    )
    .await
    .unwrap();
    let target = SyncTarget {
        tenant_id: tenant.id.clone(),
        account_id: account.id.clone(),
    };
    let x_calls = |fake: &FakeX| {
        fake.state()
            .ledger()
            .iter()
            .filter(|e| e.path.starts_with("/12/"))
            .count()
    };

    fake.state().clear_ledger();
    let started = Instant::now();
    let (_, first) = sync::run(&state, &target, Trigger::Cli, &Request::default(), &Silent)
        .await
        .expect("first sync");
    let first_time = started.elapsed();
    let first_calls = x_calls(&fake);

    state.clock.advance(Duration::hours(1));
    fake.state().advance_clock(Duration::hours(1));
    fake.state().clear_ledger();
    let started = Instant::now();
    let (_, hourly) = sync::run(
        &state,
        &target,
        Trigger::Scheduled,
        &Request::default(),
        &Silent,
    )
    .await
    .expect("hourly sync");
    let hourly_time = started.elapsed();
    let hourly_calls = x_calls(&fake);
    let active = hourly.active_entities as usize;
    // The naive loop: list the three kinds, then one stats call per entity (it cannot know
    // which entities are active).
    let naive = 3 + entities;
    println!("## X calls per synced entity ({entities} entities, fake X, 2026-05-20 10:30Z)");
    println!(
        "first sync (7-day backfill): {first_calls} calls, {} active campaigns, {} rows, {:.2?}",
        first.active_entities, first.rows_upserted, first_time
    );
    println!(
        "hourly sync (trailing 72 h): {hourly_calls} calls for {entities} entities = {:.4} calls/entity \
         ({active} active campaigns: {:.3} calls/active entity), {} rows, {:.2?}  [bar ≤ 0.10]",
        hourly_calls as f64 / entities as f64,
        hourly_calls as f64 / active.max(1) as f64,
        hourly.rows_upserted,
        hourly_time
    );
    println!(
        "naive per-entity loop: {naive} calls = {:.4} calls/entity ({:.2} per active entity)",
        naive as f64 / entities as f64,
        naive as f64 / active.max(1) as f64
    );
    let by_path = fake.state().ledger().iter().fold(
        std::collections::BTreeMap::<String, usize>::new(),
        |mut m, e| {
            let kind = e.path.rsplit('/').next().unwrap_or_default().to_owned();
            let kind = if kind == account.id {
                "stats".into()
            } else {
                kind
            };
            *m.entry(kind).or_default() += 1;
            m
        },
    );
    println!("hourly sync calls by endpoint: {by_path:?}");
    state.db.close().await;
    fake.shutdown().await;
}

const IDS: usize = 660;
const HOURS: i64 = 168;
const PER_CALL: usize = 20;

/// The stats responses of a 7-day hourly pull of 660 campaigns (33 calls of 20 ids), as bytes;
/// `revision` 1 has X's late revisions in every hour (other impressions, clicks and spend).
fn responses(start: DateTime<Utc>, revision: u32) -> Vec<Vec<u8>> {
    let ids: Vec<String> = (0..IDS).map(|i| format!("c{i:05x}")).collect();
    ids.chunks(PER_CALL)
        .map(|chunk| {
            let data: Vec<Value> = chunk
                .iter()
                .map(|id| {
                    let hours: Vec<_> = (0..HOURS)
                        .map(|h| {
                            hourly_metrics(42, id, start + Duration::hours(h), revision)
                                .unwrap_or_default()
                        })
                        .collect();
                    json!({"id": id, "id_data": [{"segment": null, "metrics": metrics(&hours)}]})
                })
                .collect();
            serde_json::to_vec(&json!({
                "data_type": "stats", "time_series_length": HOURS, "data": data,
                "request": {"params": {"granularity": "HOUR", "placement": "ALL_ON_TWITTER"}},
            }))
            .unwrap()
        })
        .collect()
}

/// The generator's value of one stored column.
fn by_column(m: &xads_fake::HourMetrics, column: &str) -> i64 {
    match column {
        "impressions" => m.impressions as i64,
        "clicks" => m.clicks as i64,
        "engagements" => m.engagements as i64,
        "retweets" => m.retweets as i64,
        "likes" => m.likes as i64,
        "replies" => m.replies as i64,
        "follows" => m.follows as i64,
        "billed_engagements" => m.billed_engagements as i64,
        "spend_local_micro" => m.billed_charge_local_micro,
        "conversions" => m.conversions as i64,
        other => panic!("no generator for the stored column {other}"),
    }
}

/// One entity's `metrics` as X answers ENGAGEMENT, BILLING and WEB_CONVERSION: every metric of
/// the client's table for those groups, the stored ones with data, the others `null`.
fn metrics(hours: &[xads_fake::HourMetrics]) -> Value {
    let series = |column: &str| -> Value {
        Value::Array(hours.iter().map(|m| json!(by_column(m, column))).collect())
    };
    let groups = [
        MetricGroup::Engagement,
        MetricGroup::Billing,
        MetricGroup::WebConversion,
    ];
    let mut out = serde_json::Map::new();
    for m in vocab::METRICS.iter().filter(|m| groups.contains(&m.group)) {
        let value = match m.column {
            None => Value::Null,
            Some(c) if m.per_hour => series(c),
            Some(c) => Value::Object(
                m.fields
                    .iter()
                    .map(|f| ((*f).to_owned(), series(c)))
                    .collect(),
            ),
        };
        out.insert(m.name.to_owned(), value);
    }
    Value::Object(out)
}

/// Parse + rows + FX + upsert of every response, one transaction per response (as a sync does).
async fn ingest_all(
    db: &Db,
    tenant_id: &str,
    bodies: &[Vec<u8>],
    start: DateTime<Utc>,
) -> (usize, f64) {
    let currencies = HashMap::new();
    let rates = fx_rates::series_for(db, tenant_id, &["EUR".to_owned()])
        .await
        .unwrap();
    let started = Instant::now();
    let mut n = 0;
    for body in bodies {
        let resp: StatsResponse = serde_json::from_slice(body).expect("parse");
        let call = ingest::Call {
            account_id: "bench_acct",
            entity: StatsEntityType::Campaign,
            placement: Placement::AllOnTwitter,
            start,
            currencies: &currencies,
            fallback: "EUR",
        };
        let mut rows = ingest::rows(&call, &resp);
        ingest::convert(&mut rows, &rates);
        n += xads::store::stats::upsert(db, tenant_id, &rows, Utc::now())
            .await
            .unwrap();
    }
    (n, n as f64 / started.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The responses of one pull, as X first answers them and with every hour revised.
struct Bodies {
    first: Vec<Vec<u8>>,
    revised: Vec<Vec<u8>>,
}

async fn ingestion_on(name: &str, db: &Db, bodies: &Bodies, start: DateTime<Utc>) -> f64 {
    let (tenant, _) = tenants::create(db, "bench", chrono::Utc::now())
        .await
        .unwrap();
    fx_rates::upsert(
        db,
        &xads::fx::parse_csv(
            "date,currency,usd_per_unit\n2026-01-01,EUR,1.0854\n",
            xads::fx::Source::Csv,
        )
        .unwrap(),
        Utc::now(),
    )
    .await
    .unwrap();
    let mut fresh = Vec::new();
    let mut again = Vec::new();
    let mut revised = Vec::new();
    let mut rows = 0;
    for _ in 0..3 {
        // Emptied as the `COPY` reference empties its table: on PostgreSQL a `DELETE` would
        // leave every key's dead row version and index entries for the next run to step over.
        let empty = match db.backend() {
            xads::db::Backend::Postgres => "TRUNCATE stats_hourly",
            xads::db::Backend::Sqlite => "DELETE FROM stats_hourly",
        };
        sqlx::query(empty).execute(db.pool()).await.unwrap();
        let (n, rate) = ingest_all(db, &tenant.id, &bodies.first, start).await;
        fresh.push(rate);
        rows = n;
        // The hourly case: the same rows again, as X answers hours it has not revised.
        let (_, rate) = ingest_all(db, &tenant.id, &bodies.first, start).await;
        again.push(rate);
        // Late data: every row revised, every one a conflict that updates.
        let (_, rate) = ingest_all(db, &tenant.id, &bodies.revised, start).await;
        revised.push(rate);
    }
    let (fresh, again, revised) = (median(fresh), median(again), median(revised));
    println!(
        "{name}: {rows} rows, parse + FX + upsert: {fresh:.0} rows/s new, {again:.0} rows/s re-upserted unchanged, {revised:.0} rows/s re-upserted revised  [bar ≥ 100000]"
    );
    fresh
}

/// The same rows through a plain `COPY … FROM STDIN` into a table like `stats_hourly`.
async fn copy_rate(url: &str, bodies: &[Vec<u8>], start: DateTime<Utc>) -> f64 {
    let mut rows: Vec<StatRow> = Vec::new();
    let currencies = HashMap::new();
    for body in bodies {
        let resp: StatsResponse = serde_json::from_slice(body).unwrap();
        let call = ingest::Call {
            account_id: "bench_acct",
            entity: StatsEntityType::Campaign,
            placement: Placement::AllOnTwitter,
            start,
            currencies: &currencies,
            fallback: "EUR",
        };
        rows.extend(ingest::rows(&call, &resp));
    }
    let rate: rust_decimal::Decimal = "1.0854".parse().unwrap();
    let mut text = String::new();
    let now = Utc::now().timestamp_millis();
    for r in &rows {
        use std::fmt::Write;
        let usd = xads::fx::spend_usd(r.spend_local_micro(), rate);
        let _ = write!(
            text,
            "ten_bench\t{now}\t{}\t{}\t{}\t{}\t{}",
            r.account_id,
            r.entity,
            r.entity_id,
            r.hour.timestamp_millis(),
            r.placement,
        );
        // In `column_list` order: counts, currency, money.
        let value = |v: &Option<i64>| v.map_or_else(|| "\\N".to_owned(), |v| v.to_string());
        for v in &r.values[..COUNTS] {
            let _ = write!(text, "\t{}", value(v));
        }
        let _ = write!(text, "\t{}", r.currency);
        for v in &r.values[COUNTS..] {
            let _ = write!(text, "\t{}", value(v));
        }
        let _ = writeln!(text, "\t{rate}\t2026-01-01\tcsv\t{usd}");
    }
    let mut conn = sqlx::postgres::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS stats_copy (LIKE stats_hourly INCLUDING DEFAULTS INCLUDING INDEXES)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let mut rates = Vec::new();
    for _ in 0..3 {
        sqlx::raw_sql("TRUNCATE stats_copy")
            .execute(&mut conn)
            .await
            .unwrap();
        let started = Instant::now();
        let mut copy = conn
            .copy_in_raw(&format!(
                "COPY stats_copy (tenant_id, fetched_at, {}) FROM STDIN",
                column_list()
            ))
            .await
            .unwrap();
        // In messages of the size `store::stats` sends.
        for part in text.as_bytes().chunks(xads::store::stats::COPY_MESSAGE) {
            copy.send(part).await.unwrap();
        }
        let n = copy.finish().await.unwrap();
        assert_eq!(n as usize, rows.len());
        rates.push(rows.len() as f64 / started.elapsed().as_secs_f64());
    }
    let rate = median(rates);
    println!(
        "postgres COPY of the same {} rows: {rate:.0} rows/s",
        rows.len()
    );
    rate
}

async fn ingestion() {
    let start = DateTime::parse_from_rfc3339("2026-05-13T00:00:00Z")
        .unwrap()
        .to_utc();
    let bodies = Bodies {
        first: responses(start, 0),
        revised: responses(start, 1),
    };
    let bytes: usize = bodies.first.iter().map(Vec::len).sum();
    println!(
        "## Ingestion: {IDS} campaigns × {HOURS} h in {} responses ({:.1} MB of JSON)",
        bodies.first.len(),
        bytes as f64 / 1e6
    );
    let sqlite = xads::testing::sqlite_db().await;
    ingestion_on("sqlite", &sqlite, &bodies, start).await;
    sqlite.close().await;
    let Some(url) = xads::testing::postgres_schema_url().await else {
        return;
    };
    let pg = Db::connect(&url).await.unwrap();
    pg.migrate(chrono::Utc::now()).await.unwrap();
    let ours = ingestion_on("postgres", &pg, &bodies, start).await;
    pg.close().await;
    let copy = copy_rate(&url, &bodies.first, start).await;
    println!("postgres ingestion / COPY = {:.2}", ours / copy);
}

fn main() {
    // `RUST_LOG=xads=debug` shows what a slow run waits for.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        calls_per_entity().await;
        ingestion().await;
    });
}
