//! Breakdowns (PRODUCT.md §4.10): stats rows per segment of X's segmented asynchronous jobs
//! (`AGE`, `GENDER`, `PLATFORMS`, `METROS`, `CONVERSION_TAGS`), in `stats_segments` beside the
//! unsegmented `stats_hourly` and never summed into it. A row is a [`StatRow`] (the same columns,
//! written by the same upsert: `store::stats::upsert_into`) keyed also by its segment; reports
//! read them through `stats::aggregate` with `Aggregate::segment` set.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row as _;
use xads_client::vocab::{SegmentationType, StatsEntityType};

use super::fx_rates::RateSeries;
use super::millis;
use super::stats::{self, StatRow, Stored, Table};
use crate::db::{Db, DbError};

/// One stored hour of one entity in one placement and one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRow {
    /// The segmentation the job asked for.
    pub segment_type: SegmentationType,
    /// What X shows for the segment (`iOS`, `Age 25 to 34`, …), as X sends it.
    pub segment_name: String,
    /// X's value of the segment (a targeting value or id), as X sends it.
    pub segment_value: String,
    /// The hour's metrics and conversion, as an unsegmented row has them.
    pub row: StatRow,
}

/// `stats_segments`: `stats_hourly`'s columns, then the segment (part of the key).
pub(crate) const SEGMENTS: Table<3> = Table {
    name: "stats_segments",
    staging: "segments_in",
    extra_key: ["segment_type", "segment_name", "segment_value"],
    window: &["entity", "segment_type"],
    rolled_up: false,
    // Its key puts the segment type before the entity id: a check by entity would scan.
    copy_new: false,
};

impl Stored<3> for SegmentRow {
    fn stat(&self) -> &StatRow {
        &self.row
    }

    fn stat_mut(&mut self) -> &mut StatRow {
        &mut self.row
    }

    fn extra_key(&self) -> [&str; 3] {
        [
            self.segment_type.as_str(),
            &self.segment_name,
            &self.segment_value,
        ]
    }
}

/// Inserts or replaces the rows of `tenant_id` on their key (the hourly row's key and the
/// segment), in one transaction, as `stats::upsert` does for unsegmented rows (PostgreSQL:
/// `COPY`); returns how many were given. Idempotent: the same rows again rewrite nothing.
pub async fn upsert(
    db: &Db,
    tenant_id: &str,
    rows: &[SegmentRow],
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    stats::upsert_into(db, &SEGMENTS, tenant_id, rows, now).await
}

/// Stored rows of an account's `segment_type` in `[from, to)`, of one entity type, ordered by
/// entity id, placement, segment name, segment value and hour (tests and the CLI; reports sum
/// in SQL with `stats::aggregate`).
pub async fn query(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    entity: StatsEntityType,
    segment_type: SegmentationType,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<SegmentRow>, DbError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM stats_segments
         WHERE tenant_id = $1 AND account_id = $2 AND entity = $3 AND segment_type = $4
           AND hour >= $5 AND hour < $6
         ORDER BY entity_id, placement, segment_name, segment_value, hour",
        SEGMENTS.column_list()
    )))
    .bind(tenant_id)
    .bind(account_id)
    .bind(entity.as_str())
    .bind(segment_type.as_str())
    .bind(millis(from))
    .bind(millis(to))
    .fetch_all(db.pool())
    .await?;
    let at = SEGMENTS.extra_key_at();
    rows.iter()
        .map(|r| {
            Ok(SegmentRow {
                segment_type: r.get::<String, _>(at).parse().map_err(|_| {
                    DbError::Corrupt("stats_segments.segment_type is not a segmentation")
                })?,
                segment_name: r.get(at + 1),
                segment_value: r.get(at + 2),
                row: stats::from_row(r)?,
            })
        })
        .collect()
}

/// Re-converts `tenant_id`'s segment rows of `currency` from `since` on with `rates`, as
/// `stats::reconvert` does the unsegmented ones (window by window of account, entity and
/// segment type, in whole hours); returns how many rows changed.
pub async fn reconvert(
    db: &Db,
    tenant_id: &str,
    currency: &str,
    since: NaiveDate,
    rates: &RateSeries,
) -> Result<u64, DbError> {
    stats::reconvert_in(db, &SEGMENTS, tenant_id, currency, since, rates).await
}

/// How many segment rows are stored for the account (tests and the CLI's summary).
pub async fn count(db: &Db, tenant_id: &str, account_id: &str) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM stats_segments WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_one(db.pool())
    .await?)
}
