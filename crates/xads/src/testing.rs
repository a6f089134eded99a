//! Test support shared by unit tests, the integration tests and the benchmarks: throwaway
//! databases on both backends and the rule for skipping when a service is absent.
//!
//! A test that needs PostgreSQL or Redis skips with one line where none is reachable, so
//! `cargo test` passes for a newcomer — unless `XADS_TEST_REQUIRE_SERVICES=1` (CI sets it), in
//! which case an unreachable service fails the test.

use crate::clock::Clock;
use crate::db::Db;

/// True when CI demands that every backend really runs.
pub fn services_required() -> bool {
    std::env::var("XADS_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true")
}

/// Skips (one line on stderr) or, when services are required, panics.
pub fn skip_or_fail(what: &str) {
    if services_required() {
        panic!("{what} (XADS_TEST_REQUIRE_SERVICES=1, so this fails instead of skipping)");
    }
    eprintln!("skipping: {what}");
}

/// The PostgreSQL server tests use.
pub fn postgres_url() -> String {
    std::env::var("XADS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The Redis server tests use.
pub fn redis_url() -> String {
    std::env::var("XADS_TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The URL of a fresh SQLite file (not yet created).
pub fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join("xads-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    format!("sqlite://{}/{}.db", dir.display(), rand::random::<u64>())
}

/// A migrated SQLite database in a fresh temporary file.
pub async fn sqlite_db() -> Db {
    let db = Db::connect(&sqlite_url()).await.expect("sqlite");
    db.migrate(Clock::default().now())
        .await
        .expect("migrate sqlite");
    db
}

/// A migrated PostgreSQL database in a fresh schema, or `None` (after a one-line notice) when no
/// server is reachable and services are not required.
pub async fn postgres_db() -> Option<Db> {
    let url = postgres_schema_url().await?;
    let db = Db::connect(&url).await.expect("connect to test schema");
    db.migrate(Clock::default().now())
        .await
        .expect("migrate postgres");
    Some(db)
}

/// The URL of a fresh, empty PostgreSQL schema, or `None` (after a one-line notice) when no
/// server is reachable and services are not required.
pub async fn postgres_schema_url() -> Option<String> {
    let base = postgres_url();
    let admin = match Db::connect(&base).await {
        Ok(db) if db.ping().await => db,
        _ => {
            skip_or_fail(&format!("no PostgreSQL at {base}"));
            return None;
        }
    };
    let now = Clock::default().now().timestamp();
    // Schemas are named by creation time so stale ones (from crashed runs) can be swept.
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT schema_name::text FROM information_schema.schemata WHERE schema_name LIKE 'xt\\_%'",
    )
    .fetch_all(admin.pool())
    .await
    .unwrap_or_default();
    for name in stale {
        let created = name.split('_').nth(1).and_then(|t| t.parse::<i64>().ok());
        if created.is_some_and(|t| now - t > 3600) {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE"
            )))
            .execute(admin.pool())
            .await;
        }
    }
    let schema = format!("xt_{now}_{:016x}", rand::random::<u64>());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(admin.pool())
        .await
        .expect("create schema");
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// URLs of fresh databases on every backend reachable here: SQLite always, PostgreSQL when
/// reachable (or required).
pub async fn all_backend_urls() -> Vec<String> {
    let mut urls = vec![sqlite_url()];
    if let Some(pg) = postgres_schema_url().await {
        urls.push(pg);
    }
    urls
}

/// Every backend reachable here: SQLite always, PostgreSQL when reachable.
pub async fn all_backends() -> Vec<Db> {
    let mut dbs = vec![sqlite_db().await];
    if let Some(pg) = postgres_db().await {
        dbs.push(pg);
    }
    dbs
}
