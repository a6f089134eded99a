//! Repositories: the only code that writes SQL. Each takes the [`Db`](crate::db::Db) and speaks in
//! domain values; callers never see rows.

pub mod audit;
pub mod backfills;
pub mod connections;
pub mod daily;
pub mod entities;
pub mod experiments;
pub mod fx_fetches;
pub mod fx_rates;
pub mod idempotency;
pub mod media;
pub mod paging;
pub mod segments;
pub mod sessions;
pub mod stats;
pub mod sync_runs;
pub mod tenants;
pub mod x_writes;

/// Milliseconds since the epoch, the one way instants are stored.
pub fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// A lease length in milliseconds, added in SQL to the database's now (`Db::now_ms_sql`);
/// capped far below `i64::MAX` so that the sum cannot overflow.
pub fn lease_ms(hold: std::time::Duration) -> i64 {
    i64::try_from(hold.as_millis()).map_or(i64::MAX / 4, |ms| ms.min(i64::MAX / 4))
}

/// The instant stored as epoch milliseconds.
pub fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A random id with a readable prefix (`ten_…`, `con_…`), 80 bits of randomness.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:020x}", rand::random::<u128>() >> 48)
}
