//! The daily roll-up of `stats_hourly` (`stats_daily`, migration 0022): per tenant, account,
//! entity, local day of the account's zone and placement, the partial aggregates that
//! [`stats::aggregate`](super::stats::aggregate) sums (metric sums, hour counts, the FX columns'
//! minima and maxima). A report over whole local days then reads one row per day instead of 24.
//!
//! Invariant: for every account with a row in `stats_daily_zones`, `stats_daily` holds exactly
//! the aggregate of its `stats_hourly` rows cut into the days of the zone recorded there, except
//! on the local days that overlap a UTC date marked in `stats_daily_dirty`. Every write to
//! `stats_hourly` ([`stats::upsert`](super::stats::upsert) and
//! [`stats::reconvert`](super::stats::reconvert)) marks the UTC dates of its hours ([`mark`]) in
//! its own transaction; [`settle`] re-aggregates the marked days and deletes the marks in one
//! transaction. A read of the roll-up settles first ([`settled_zone`]); each sync settles when it
//! is done, so a report seldom waits. On PostgreSQL settling takes a transaction-scoped advisory
//! lock on the account, so two settles never re-insert the same days at once. An account
//! whose zone changed (or that was never rolled up: rows stored before this table) is rebuilt
//! whole when it settles.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use xads_client::vocab::COLUMNS;

use crate::db::{Backend, Db, DbError};

/// Milliseconds in an hour and a day.
pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The zone's UTC offsets over `[from, to)` as `(from_ms, offset_ms)`, each from the instant it
/// starts: stepped a day at a time, and an hour at a time through a day whose offset changed
/// (no zone changes twice within a day). What `stats::Bucketing::Day` takes.
pub fn zone_offsets(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(i64, i64)> {
    use chrono::{Offset as _, TimeZone as _};
    let offset_at = |t: DateTime<Utc>| {
        i64::from(
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
        ) * 1000
    };
    let mut t = crate::sync::floor_hour(from);
    let mut out = vec![(t.timestamp_millis(), offset_at(t))];
    while t < to {
        let next = t + Duration::days(1);
        let current = out.last().map_or(0, |o| o.1);
        if offset_at(next) != current {
            let mut h = t + Duration::hours(1);
            while h <= next {
                let o = offset_at(h);
                if o != out.last().map_or(0, |o| o.1) {
                    out.push((h.timestamp_millis(), o));
                }
                h += Duration::hours(1);
            }
        }
        t = next;
    }
    out
}

/// The local day (days since 1970-01-01) of the hour starting at `ms`, as [`day_expr`] computes
/// it in SQL from the same offsets.
pub(crate) fn day_in(offsets: &[(i64, i64)], ms: i64) -> i64 {
    let offset = offsets
        .iter()
        .take_while(|(from, _)| *from <= ms)
        .last()
        .or(offsets.first())
        .map_or(0, |o| o.1);
    (ms + offset).div_euclid(DAY_MS)
}

/// SQL: the local day of the row's `hour` under `offsets` (see [`day_in`]).
pub(crate) fn day_expr(offsets: &[(i64, i64)]) -> String {
    let mut offset = match offsets {
        [] => "0".to_owned(),
        [(_, only)] => only.to_string(),
        [(_, first), rest @ ..] => {
            let mut case = String::from("CASE");
            let mut before = *first;
            for (from, o) in rest {
                let _ = write!(case, " WHEN hour < {from} THEN {before}");
                before = *o;
            }
            let _ = write!(case, " ELSE {before} END");
            case
        }
    };
    if offset.starts_with('-') {
        offset = format!("({offset})");
    }
    format!("(hour + {offset}) / {DAY_MS}")
}

/// SQL: 1 when the row's spend was converted with a stale rate (not USD, and the rate dated more
/// than `fx::STALE_AFTER` before the hour's UTC date), else 0.
pub(crate) fn stale_expr(backend: Backend) -> String {
    // The rate's date as days since 1970-01-01, to compare with the hour's UTC day.
    let rate_day = match backend {
        Backend::Sqlite => "CAST(julianday(fx_rate_date) - 2440587.5 AS INTEGER)",
        Backend::Postgres => "(CAST(fx_rate_date AS DATE) - DATE '1970-01-01')",
    };
    format!(
        "CASE WHEN fx_rate_date IS NOT NULL AND currency <> 'USD'
               AND hour / {DAY_MS} - {rate_day} > {stale} THEN 1 ELSE 0 END",
        stale = crate::fx::STALE_AFTER.num_days()
    )
}

/// A value bound to a statement of this module.
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// A statement and its values (`$1`, `$2`, … in order).
pub(crate) struct Stmt {
    sql: String,
    binds: Vec<Bind>,
}

impl Stmt {
    fn new() -> Stmt {
        Stmt {
            sql: String::new(),
            binds: Vec::new(),
        }
    }

    /// Appends `sql`.
    fn push(&mut self, sql: &str) -> &mut Stmt {
        self.sql.push_str(sql);
        self
    }

    /// Appends the placeholder of a new bound value.
    fn bind(&mut self, b: Bind) -> &mut Stmt {
        self.binds.push(b);
        let _ = write!(self.sql, "${}", self.binds.len());
        self
    }

    fn text(&mut self, s: &str) -> &mut Stmt {
        self.bind(Bind::Text(s.to_owned()))
    }

    fn int(&mut self, i: i64) -> &mut Stmt {
        self.bind(Bind::Int(i))
    }
}

/// The connection marks and settling run on: the `Any` one of SQLite's upsert, of re-conversion
/// and of [`settle`], or PostgreSQL's native one of the `COPY` upsert; each inside a transaction.
pub(crate) trait Conn: Send {
    /// Runs a statement.
    fn exec(&mut self, s: Stmt) -> impl Future<Output = Result<(), DbError>> + Send;
    /// The first column of the first row, if any, as text.
    fn text(&mut self, s: Stmt) -> impl Future<Output = Result<Option<String>, DbError>> + Send;
    /// The first two columns of the first row, as integers (`None` for SQL NULL).
    fn pair(
        &mut self,
        s: Stmt,
    ) -> impl Future<Output = Result<(Option<i64>, Option<i64>), DbError>> + Send;
}

/// Binds a statement's values to `q` (any of sqlx's query kinds), in order.
macro_rules! bind_all {
    ($q:ident, $binds:expr) => {
        let $q = $binds.into_iter().fold($q, |q, b| match b {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        });
    };
}

macro_rules! conn_impl {
    ($conn:ty) => {
        impl Conn for $conn {
            async fn exec(&mut self, s: Stmt) -> Result<(), DbError> {
                let q = sqlx::query(sqlx::AssertSqlSafe(s.sql));
                bind_all!(q, s.binds);
                q.execute(&mut *self).await?;
                Ok(())
            }

            async fn text(&mut self, s: Stmt) -> Result<Option<String>, DbError> {
                let q = sqlx::query_scalar(sqlx::AssertSqlSafe(s.sql));
                bind_all!(q, s.binds);
                Ok(q.fetch_optional(&mut *self).await?)
            }

            async fn pair(&mut self, s: Stmt) -> Result<(Option<i64>, Option<i64>), DbError> {
                let q = sqlx::query_as(sqlx::AssertSqlSafe(s.sql));
                bind_all!(q, s.binds);
                Ok(q.fetch_optional(&mut *self).await?.unwrap_or((None, None)))
            }
        }
    };
}

conn_impl!(sqlx::AnyConnection);
conn_impl!(sqlx::PgConnection);

/// What a write to a stats table touched: per account and entity type, the UTC dates (days
/// since 1970-01-01) of the written hours of `stats_hourly`, and the accounts written in a
/// table the roll-up does not cover (`stats_segments`), whose version moves all the same.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    days: BTreeSet<(String, String, i64)>,
    others: BTreeSet<String>,
}

impl Touched {
    /// Notes a written row.
    pub(crate) fn add(&mut self, account_id: &str, entity: &str, hour_ms: i64) {
        let day = hour_ms.div_euclid(DAY_MS);
        // Rows come grouped: most are of the day just noted.
        if self
            .days
            .last()
            .is_some_and(|(a, e, d)| a == account_id && e == entity && *d == day)
        {
            return;
        }
        self.days
            .insert((account_id.to_owned(), entity.to_owned(), day));
    }

    /// Notes a written row of a table that is not rolled up.
    pub(crate) fn add_other(&mut self, account_id: &str) {
        if !self.others.contains(account_id) {
            self.others.insert(account_id.to_owned());
        }
    }

    fn accounts(&self) -> BTreeSet<&str> {
        self.days
            .iter()
            .map(|(a, _, _)| a.as_str())
            .chain(self.others.iter().map(String::as_str))
            .collect()
    }
}

/// The advisory-lock class of the roll-up's per-account locks (PostgreSQL's two-key form; the
/// migration lock uses the one-key form).
const LOCK_CLASS: i32 = 0x7864; // "xd"

/// The account's lock key: FNV-1a of tenant and account, folded to 32 bits.
fn lock_key(tenant_id: &str, account_id: &str) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tenant_id.bytes().chain([0]).chain(account_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32 as i32
}

/// Takes the account's transaction-scoped advisory lock (PostgreSQL; SQLite's writer holds the
/// whole database).
async fn lock<C: Conn>(
    conn: &mut C,
    backend: Backend,
    tenant_id: &str,
    account: &str,
) -> Result<(), DbError> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    let mut lock = Stmt::new();
    lock.push("SELECT pg_advisory_xact_lock(")
        .int(i64::from(LOCK_CLASS))
        .push("::int4, ")
        .int(i64::from(lock_key(tenant_id, account)))
        .push("::int4)");
    conn.exec(lock).await
}

/// Marks the UTC dates `touched` names as stale in `stats_daily`, inside the writer's
/// transaction (see the module's invariant), and moves the version of every account written
/// ([`versions`]). Marking takes no lock: a mark committed before a settle's
/// `DELETE … RETURNING` is settled by it from a later snapshot, which holds the mark's hours;
/// one committed after it stays for the next settle. The version's row is locked from here to
/// the commit (PostgreSQL): this runs last in its transaction, accounts in order, so writers of
/// one account wait for each other only that long and never in a cycle.
pub(crate) async fn mark<C: Conn>(
    conn: &mut C,
    tenant_id: &str,
    touched: &Touched,
) -> Result<(), DbError> {
    for account in touched.accounts() {
        let mut bump = Stmt::new();
        bump.push("INSERT INTO stats_versions (tenant_id, account_id, version) VALUES (")
            .text(tenant_id)
            .push(", ")
            .text(account)
            .push(
                ", 1) ON CONFLICT (tenant_id, account_id)
                 DO UPDATE SET version = stats_versions.version + 1",
            );
        let days: Vec<_> = touched
            .days
            .iter()
            .filter(|(a, _, _)| a.as_str() == account)
            .collect();
        if !days.is_empty() {
            let mut insert = Stmt::new();
            insert.push(
                "INSERT INTO stats_daily_dirty (tenant_id, account_id, entity, utc_day) VALUES ",
            );
            for (i, (_, entity, day)) in days.into_iter().enumerate() {
                insert.push(if i == 0 { "(" } else { ", (" });
                insert
                    .text(tenant_id)
                    .push(", ")
                    .text(account)
                    .push(", ")
                    .text(entity)
                    .push(", ")
                    .int(*day)
                    .push(")");
            }
            insert.push(" ON CONFLICT DO NOTHING");
            conn.exec(insert).await?;
        }
        conn.exec(bump).await?;
    }
    Ok(())
}

/// The version of each of the tenant's accounts' stored stats, by account id (an account
/// never written has none: version 0). Every write of an account's stats rows moves its
/// version in the same transaction ([`mark`]), so a figure computed from rows read after its
/// version was read is current for as long as that version stays (on every instance: the
/// version lives in the database).
pub async fn versions(
    db: &Db,
    tenant_id: &str,
) -> Result<std::collections::HashMap<String, i64>, DbError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT account_id, version FROM stats_versions WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_all(db.pool())
            .await?;
    Ok(rows.into_iter().collect())
}

/// The zone the account's roll-up is cut in, after settling it when it has stale days, was
/// never rolled up, or was rolled up in another zone than the account's.
pub(crate) async fn settled_zone(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
) -> Result<Tz, DbError> {
    match probe(db, tenant_id, account_id).await? {
        (zone, false) => Ok(zone),
        (_, true) => settle(db, tenant_id, account_id).await,
    }
}

/// The account's zone, and whether its roll-up must be settled before it is read (a day is
/// stale, it was never rolled up, or it was rolled up in another zone), without writing.
pub(crate) async fn probe(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
) -> Result<(Tz, bool), DbError> {
    // The account's zone, the roll-up's zone and whether a day is stale, in one round trip:
    // this runs before every roll-up read.
    let (zone, rolled, stale): (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT (SELECT timezone FROM ad_accounts WHERE tenant_id = $1 AND id = $2),
                (SELECT timezone FROM stats_daily_zones WHERE tenant_id = $1 AND account_id = $2),
                (SELECT entity FROM stats_daily_dirty WHERE tenant_id = $1 AND account_id = $2
                 LIMIT 1)",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_one(db.pool())
    .await?;
    let zone = zone_of(zone);
    let unsettled = stale.is_some() || rolled.as_deref() != Some(zone.name());
    Ok((zone, unsettled))
}

/// Re-aggregates the account's stale days (all of them when its zone changed or it was never
/// rolled up) and deletes their marks, in one transaction; returns the zone of its days.
pub(crate) async fn settle(db: &Db, tenant_id: &str, account_id: &str) -> Result<Tz, DbError> {
    let backend = db.backend();
    let mut tx = db.pool().begin().await?;
    lock(&mut *tx, backend, tenant_id, account_id).await?;
    // The first statement writes: SQLite's transaction holds the write lock from here on.
    let marks: Vec<(String, i64)> = sqlx::query_as(
        "DELETE FROM stats_daily_dirty WHERE tenant_id = $1 AND account_id = $2
         RETURNING entity, utc_day",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(&mut *tx)
    .await?;
    let tz = account_zone(&mut *tx, tenant_id, account_id).await?;
    if rolled_in(&mut *tx, tenant_id, account_id).await?.as_deref() != Some(tz.name()) {
        rebuild(&mut *tx, backend, tenant_id, account_id, tz).await?;
    } else {
        let mut by_entity: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for (entity, day) in marks {
            by_entity.entry(entity).or_default().insert(day);
        }
        for (entity, days) in &by_entity {
            let scope = Scope {
                tenant_id,
                account_id,
                entity: Some(entity),
            };
            // Runs of consecutive dates, each re-aggregated as one span of hours.
            let mut days = days.iter().copied().peekable();
            while let Some(first) = days.next() {
                let mut last = first;
                while days.peek() == Some(&(last + 1)) {
                    last += 1;
                    days.next();
                }
                recompute(
                    &mut *tx,
                    backend,
                    &scope,
                    first * DAY_MS,
                    (last + 1) * DAY_MS,
                    tz,
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(tz)
}

/// The zone the account's roll-up was cut in (`None`: never rolled up).
async fn rolled_in<C: Conn>(
    conn: &mut C,
    tenant_id: &str,
    account_id: &str,
) -> Result<Option<String>, DbError> {
    let mut marker = Stmt::new();
    marker
        .push("SELECT timezone FROM stats_daily_zones WHERE tenant_id = ")
        .text(tenant_id)
        .push(" AND account_id = ")
        .text(account_id);
    conn.text(marker).await
}

/// The account's zone (UTC when it is unknown or not a zone, as reports read it).
async fn account_zone<C: Conn>(
    conn: &mut C,
    tenant_id: &str,
    account: &str,
) -> Result<Tz, DbError> {
    let mut zone = Stmt::new();
    zone.push("SELECT timezone FROM ad_accounts WHERE tenant_id = ")
        .text(tenant_id)
        .push(" AND id = ")
        .text(account);
    Ok(zone_of(conn.text(zone).await?))
}

/// A stored zone name as reports read it: UTC when unknown or not a zone.
fn zone_of(name: Option<String>) -> Tz {
    name.and_then(|z| z.parse::<Tz>().ok()).unwrap_or(Tz::UTC)
}

/// Which rows a recompute covers.
struct Scope<'a> {
    tenant_id: &'a str,
    account_id: &'a str,
    /// One entity type, or all.
    entity: Option<&'a str>,
}

impl Scope<'_> {
    /// ` WHERE tenant_id = … AND account_id = … [AND entity = …]`; returns the conditions it
    /// wrote, after ` WHERE `.
    fn filter(&self, s: &mut Stmt) -> String {
        s.push(" WHERE ");
        let start = s.sql.len();
        s.push("tenant_id = ")
            .text(self.tenant_id)
            .push(" AND account_id = ")
            .text(self.account_id);
        if let Some(entity) = self.entity {
            s.push(" AND entity = ").text(entity);
        }
        s.sql[start..].to_owned()
    }
}

/// Rebuilds an account's days whole in zone `tz` and records the zone.
async fn rebuild<C: Conn>(
    conn: &mut C,
    backend: Backend,
    tenant_id: &str,
    account_id: &str,
    tz: Tz,
) -> Result<(), DbError> {
    let scope = Scope {
        tenant_id,
        account_id,
        entity: None,
    };
    let mut clear = Stmt::new();
    clear.push("DELETE FROM stats_daily");
    scope.filter(&mut clear);
    conn.exec(clear).await?;
    let mut span = Stmt::new();
    span.push("SELECT MIN(hour), MAX(hour) FROM stats_hourly");
    scope.filter(&mut span);
    if let (Some(first), Some(last)) = conn.pair(span).await? {
        recompute(conn, backend, &scope, first, last + HOUR_MS, tz).await?;
    }
    let mut forget = Stmt::new();
    forget
        .push("DELETE FROM stats_daily_zones WHERE tenant_id = ")
        .text(tenant_id)
        .push(" AND account_id = ")
        .text(account_id);
    conn.exec(forget).await?;
    let mut record = Stmt::new();
    record
        .push("INSERT INTO stats_daily_zones (tenant_id, account_id, timezone) VALUES (")
        .text(tenant_id)
        .push(", ")
        .text(account_id)
        .push(", ")
        .text(tz.name())
        .push(")");
    conn.exec(record).await
}

/// Recomputes the days of `scope` that hold the hours `[from_ms, to_ms)`: deletes them and
/// inserts them again from every stored hour of those whole days.
async fn recompute<C: Conn>(
    conn: &mut C,
    backend: Backend,
    scope: &Scope<'_>,
    from_ms: i64,
    to_ms: i64,
    tz: Tz,
) -> Result<(), DbError> {
    // The days' hours lie within a day of the span's ends; two days of margin spare the edge
    // cases (offsets beyond ±24 h do not exist).
    let (lo, hi) = (from_ms - 2 * DAY_MS, to_ms + 2 * DAY_MS);
    let offsets = zone_offsets(tz, super::from_millis(lo), super::from_millis(hi));
    let first_day = day_in(&offsets, from_ms);
    let end_day = day_in(&offsets, to_ms - HOUR_MS) + 1;
    let day = day_expr(&offsets);

    let mut clear = Stmt::new();
    clear.push("DELETE FROM stats_daily");
    scope.filter(&mut clear);
    clear
        .push(" AND day >= ")
        .int(first_day)
        .push(" AND day < ")
        .int(end_day);
    conn.exec(clear).await?;

    let mut fill = Stmt::new();
    fill.push("INSERT INTO stats_daily (tenant_id, account_id, entity, day, entity_id, placement");
    for c in &COLUMNS {
        fill.push(", ").push(c.name);
    }
    fill.push(
        ", currency_min, last_hour, hours, fx_hours, fx_rate_min, fx_rate_max, fx_date_min,
           fx_date_max, fx_source_min, fx_source_max, usd_hours, usd_micros, fx_stale)
         SELECT tenant_id, account_id, entity, ",
    );
    fill.push(&format!("CAST({day} AS BIGINT), entity_id, placement"));
    for c in &COLUMNS {
        fill.push(&format!(", CAST(SUM({}) AS BIGINT)", c.name));
    }
    fill.push(&format!(
        ", MIN(currency), MAX(hour), COUNT(*), COUNT(fx_rate), MIN(fx_rate), MAX(fx_rate),
           MIN(fx_rate_date), MAX(fx_rate_date), MIN(fx_source), MAX(fx_source),
           COUNT(spend_usd), CAST(SUM(CAST(REPLACE(spend_usd, '.', '') AS BIGINT)) AS BIGINT),
           CAST(MAX({}) AS BIGINT)
         FROM stats_hourly",
        stale_expr(backend)
    ));
    let key = scope.filter(&mut fill);
    if scope.entity.is_some() {
        // Each entity's days, sought in the primary key (stats_hourly has no index by hour);
        // a whole account (a rebuild) reads all of its rows anyway.
        fill.push(&super::stats::stored_ids_in(&key));
    }
    fill.push(" AND hour >= ")
        .int(lo)
        .push(" AND hour < ")
        .int(hi)
        .push(&format!(" AND {day} >= "))
        .int(first_day)
        .push(&format!(" AND {day} < "))
        .int(end_day)
        .push(" GROUP BY tenant_id, account_id, entity, 4, entity_id, placement");
    conn.exec(fill).await
}

/// The whole local days a report over `[from, to)` can read from `stats_daily` instead of
/// `stats_hourly`: `(first_day, end_day)` when the account was rolled up in zone `tz` and the
/// window starts and ends at the first hour of a local day of that zone (hours are UTC hours,
/// so in a zone with a half-hour offset a day starts with the hour its midnight falls in).
pub(crate) fn whole_days(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<(i64, i64)> {
    let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
    if from_ms % HOUR_MS != 0 || to_ms % HOUR_MS != 0 || from_ms >= to_ms {
        return None;
    }
    let offsets = zone_offsets(tz, from - Duration::days(2), to + Duration::days(2));
    let starts_day = |ms: i64| day_in(&offsets, ms - HOUR_MS) != day_in(&offsets, ms);
    (starts_day(from_ms) && starts_day(to_ms))
        .then(|| (day_in(&offsets, from_ms), day_in(&offsets, to_ms)))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn a_window_of_whole_local_days_is_found_and_a_ragged_one_is_not() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        // 2026-11-01 is the end of daylight saving time in Los Angeles: midnight is 07:00 UTC
        // before it and 08:00 UTC after.
        let from = utc(2026, 10, 30, 7);
        let to = utc(2026, 11, 3, 8);
        let (first, end) = whole_days(la, from, to).unwrap();
        assert_eq!(end - first, 4);
        assert_eq!(
            first,
            chrono::NaiveDate::from_ymd_opt(2026, 10, 30)
                .unwrap()
                .signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
                .num_days()
        );
        assert_eq!(whole_days(la, from + Duration::hours(1), to), None);
        assert_eq!(whole_days(la, from, to - Duration::hours(1)), None);
        assert_eq!(whole_days(la, from, to + Duration::minutes(30)), None);
        assert_eq!(
            whole_days(Tz::UTC, utc(2026, 1, 1, 0), utc(2026, 1, 2, 0)),
            Some((20454, 20455))
        );
        // India (UTC+5:30): local midnight is 18:30 UTC, inside the hour starting 18:00, which
        // belongs to the day before (it starts at 23:30); the day starts with the 19:00 hour.
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        assert!(whole_days(kolkata, utc(2026, 1, 1, 19), utc(2026, 1, 2, 19)).is_some());
        assert_eq!(
            whole_days(kolkata, utc(2026, 1, 1, 18), utc(2026, 1, 2, 19)),
            None
        );
    }

    #[test]
    fn the_day_of_an_hour_agrees_with_the_sql_expression_across_a_dst_change() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let offsets = zone_offsets(la, utc(2026, 10, 30, 0), utc(2026, 11, 4, 0));
        assert_eq!(offsets.len(), 2, "{offsets:?}");
        let expr = day_expr(&offsets);
        assert!(expr.contains("CASE WHEN hour < "), "{expr}");
        // 06:00 UTC on Nov 1 is 23:00 PDT Oct 31; 07:00 UTC is 00:00 PDT Nov 1; after the
        // change 08:00 UTC on Nov 2 is 00:00 PST Nov 2.
        let day = |t: DateTime<Utc>| day_in(&offsets, t.timestamp_millis());
        assert_eq!(day(utc(2026, 11, 1, 7)) - day(utc(2026, 11, 1, 6)), 1);
        assert_eq!(day(utc(2026, 11, 2, 7)), day(utc(2026, 11, 1, 7)));
        assert_eq!(day(utc(2026, 11, 2, 8)) - day(utc(2026, 11, 2, 7)), 1);
    }

    #[test]
    fn touched_days_group_by_account_and_entity() {
        let mut t = Touched::default();
        t.add("a", "CAMPAIGN", 10 * HOUR_MS);
        t.add("a", "CAMPAIGN", 30 * HOUR_MS);
        t.add("a", "CAMPAIGN", 3 * HOUR_MS);
        t.add("a", "LINE_ITEM", 5 * HOUR_MS);
        t.add("b", "CAMPAIGN", 7 * HOUR_MS);
        assert_eq!(t.accounts().into_iter().collect::<Vec<_>>(), ["a", "b"]);
        let days: Vec<_> = t
            .days
            .iter()
            .map(|(a, e, d)| (a.as_str(), e.as_str(), *d))
            .collect();
        assert_eq!(
            days,
            [
                ("a", "CAMPAIGN", 0),
                ("a", "CAMPAIGN", 1),
                ("a", "LINE_ITEM", 0),
                ("b", "CAMPAIGN", 0)
            ]
        );
        assert_ne!(lock_key("t", "a"), lock_key("t", "b"));
        assert_ne!(lock_key("ta", ""), lock_key("t", "a"));
    }
}
