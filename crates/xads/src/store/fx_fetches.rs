//! The daily ECB fetch's bookkeeping: one lease per UTC day, so one instance fetches (at start
//! and then daily) however many run, and the outcome of each day's attempt.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::Row;

use super::{from_millis, millis};
use crate::db::{Db, DbError};

/// Claims `day`'s fetch for `holder` until `now + hold`: a conditional insert on the day (one
/// caller wins), or the take-over of a lapsed lease whose holder never finished (a conditional
/// update). A finished day is never claimed again: a failure waits for the next day.
pub async fn claim_day(
    db: &Db,
    day: NaiveDate,
    holder: &str,
    now: DateTime<Utc>,
    hold: Duration,
) -> Result<bool, DbError> {
    let inserted = sqlx::query(
        "INSERT INTO fx_fetches (day, holder, lease_until, done, outcome, finished_at)
         VALUES ($1, $2, $3, 0, NULL, NULL) ON CONFLICT (day) DO NOTHING",
    )
    .bind(day.to_string())
    .bind(holder)
    .bind(millis(now + hold))
    .execute(db.pool())
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(true);
    }
    let taken = sqlx::query(
        "UPDATE fx_fetches SET holder = $1, lease_until = $2
         WHERE day = $3 AND done = 0 AND lease_until < $4",
    )
    .bind(holder)
    .bind(millis(now + hold))
    .bind(day.to_string())
    .bind(millis(now))
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// Records how `day`'s fetch ended (`outcome`: `ok …` or the failure) and closes the day.
pub async fn finish_day(
    db: &Db,
    day: NaiveDate,
    holder: &str,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE fx_fetches SET done = 1, outcome = $1, finished_at = $2 WHERE day = $3 AND holder = $4",
    )
    .bind(outcome)
    .bind(millis(now))
    .bind(day.to_string())
    .bind(holder)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A day's fetch as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// The UTC day.
    pub day: NaiveDate,
    /// Whether it finished (successfully or not).
    pub done: bool,
    /// What happened (`ok: …` or the failure).
    pub outcome: Option<String>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The recorded fetches, newest first (at most `limit`).
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<Fetch>, DbError> {
    let rows = sqlx::query(
        "SELECT day, done, outcome, finished_at FROM fx_fetches ORDER BY day DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Fetch {
                day: NaiveDate::parse_from_str(&r.get::<String, _>(0), "%Y-%m-%d")
                    .map_err(|_| DbError::Corrupt("fx_fetches.day is not a date"))?,
                done: r.get::<i16, _>(1) != 0,
                outcome: r.get(2),
                finished_at: r.get::<Option<i64>, _>(3).map(from_millis),
            })
        })
        .collect()
}

/// The latest date of a stored ECB rate before `before` (gap detection), if any.
pub async fn latest_ecb_date_before(
    db: &Db,
    before: NaiveDate,
) -> Result<Option<NaiveDate>, DbError> {
    let d: Option<String> = sqlx::query_scalar(
        "SELECT MAX(rate_date) FROM fx_rates WHERE source = 'ecb' AND rate_date < $1",
    )
    .bind(before.to_string())
    .fetch_one(db.pool())
    .await?;
    d.map(|d| {
        NaiveDate::parse_from_str(&d, "%Y-%m-%d")
            .map_err(|_| DbError::Corrupt("fx_rates.rate_date is not a date"))
    })
    .transpose()
}
