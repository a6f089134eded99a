//! The daily roll-up of `stats_hourly` (`stats_daily`, migration 0022): per tenant, account,
//! entity, local day of the account's zone and placement, the partial aggregates that
//! [`stats::aggregate`](super::stats::aggregate) sums (metric sums, hour counts, the FX columns'
//! minima and maxima). A report over whole local days then reads one row per day instead of 24.
//!
//! Invariant: for every account with a row in `stats_daily_zones`, `stats_daily` holds exactly
//! the aggregate of its `stats_hourly` rows cut into the days of the zone recorded there. Every
//! write to `stats_hourly` ([`stats::upsert`](super::stats::upsert) and
//! [`stats::reconvert`](super::stats::reconvert)) calls [`refresh`] in its own transaction; on
//! PostgreSQL the refresh first takes a transaction-scoped advisory lock on the account, so of two
//! concurrent writers the later one re-reads what the earlier committed. An account whose zone
//! changed (or that was never rolled up: rows stored before this table) is rebuilt whole at its
//! next write; until then reads use `stats_hourly` ([`Window::of`] finds no match).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use xads_client::vocab::COLUMNS;

use crate::db::{Backend, DbError};

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

    /// ` AND entity_id IN ($n, …)`.
    fn ids(&mut self, ids: &BTreeSet<String>) -> &mut Stmt {
        self.push(" AND entity_id IN (");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.text(id);
        }
        self.push(")")
    }
}

/// The connection a refresh runs on: the `Any` one of SQLite's upsert and of re-conversion, or
/// PostgreSQL's native one of the `COPY` upsert; each inside the writer's transaction.
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

macro_rules! conn_impl {
    ($conn:ty) => {
        impl Conn for $conn {
            async fn exec(&mut self, s: Stmt) -> Result<(), DbError> {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(s.sql));
                for b in s.binds {
                    q = match b {
                        Bind::Text(t) => q.bind(t),
                        Bind::Int(i) => q.bind(i),
                    };
                }
                q.execute(&mut *self).await?;
                Ok(())
            }

            async fn text(&mut self, s: Stmt) -> Result<Option<String>, DbError> {
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(s.sql));
                for b in s.binds {
                    q = match b {
                        Bind::Text(t) => q.bind(t),
                        Bind::Int(i) => q.bind(i),
                    };
                }
                Ok(q.fetch_optional(&mut *self).await?)
            }

            async fn pair(&mut self, s: Stmt) -> Result<(Option<i64>, Option<i64>), DbError> {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(s.sql));
                for b in s.binds {
                    q = match b {
                        Bind::Text(t) => q.bind(t),
                        Bind::Int(i) => q.bind(i),
                    };
                }
                Ok(q.fetch_optional(&mut *self).await?.unwrap_or((None, None)))
            }
        }
    };
}

conn_impl!(sqlx::AnyConnection);
conn_impl!(sqlx::PgConnection);

/// What a write to `stats_hourly` touched: per account and entity type, the entity ids and the
/// span of hours (first, last).
#[derive(Debug, Default)]
pub(crate) struct Touched {
    spans: BTreeMap<(String, String), (BTreeSet<String>, i64, i64)>,
}

impl Touched {
    /// Notes a written row.
    pub(crate) fn add(&mut self, account_id: &str, entity: &str, entity_id: &str, hour_ms: i64) {
        let key = (account_id.to_owned(), entity.to_owned());
        let span = self
            .spans
            .entry(key)
            .or_insert_with(|| (BTreeSet::new(), hour_ms, hour_ms));
        if !span.0.contains(entity_id) {
            span.0.insert(entity_id.to_owned());
        }
        span.1 = span.1.min(hour_ms);
        span.2 = span.2.max(hour_ms);
    }

    fn accounts(&self) -> BTreeSet<&str> {
        self.spans.keys().map(|(a, _)| a.as_str()).collect()
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

/// Brings `stats_daily` up to date with the rows `touched` names, inside the writer's
/// transaction (see the module's invariant). Accounts never rolled up, or whose zone changed,
/// are rebuilt whole.
pub(crate) async fn refresh<C: Conn>(
    conn: &mut C,
    backend: Backend,
    tenant_id: &str,
    touched: &Touched,
) -> Result<(), DbError> {
    // Accounts in order, so two writers of the same accounts take their locks in one order.
    for account in touched.accounts() {
        if backend == Backend::Postgres {
            let mut lock = Stmt::new();
            lock.push("SELECT pg_advisory_xact_lock(")
                .int(i64::from(LOCK_CLASS))
                .push("::int4, ")
                .int(i64::from(lock_key(tenant_id, account)))
                .push("::int4)");
            conn.exec(lock).await?;
        }
        let tz = account_zone(conn, tenant_id, account).await?;
        let mut marker = Stmt::new();
        marker
            .push("SELECT timezone FROM stats_daily_zones WHERE tenant_id = ")
            .text(tenant_id)
            .push(" AND account_id = ")
            .text(account);
        if conn.text(marker).await?.as_deref() != Some(tz.name()) {
            rebuild(conn, backend, tenant_id, account, tz).await?;
            continue;
        }
        for ((_, entity), (ids, first, last)) in touched
            .spans
            .iter()
            .filter(|((a, _), _)| a.as_str() == account)
        {
            let scope = Scope {
                tenant_id,
                account_id: account,
                entity: Some(entity),
                ids: Some(ids),
            };
            recompute(conn, backend, &scope, *first, *last + HOUR_MS, tz).await?;
        }
    }
    Ok(())
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
    Ok(conn
        .text(zone)
        .await?
        .and_then(|z| z.parse::<Tz>().ok())
        .unwrap_or(Tz::UTC))
}

/// Which rows a recompute covers.
struct Scope<'a> {
    tenant_id: &'a str,
    account_id: &'a str,
    /// One entity type, or all.
    entity: Option<&'a str>,
    /// Some entity ids, or all.
    ids: Option<&'a BTreeSet<String>>,
}

impl Scope<'_> {
    /// ` WHERE tenant_id = … AND account_id = … [AND entity = …] [AND entity_id IN (…)]`.
    fn filter(&self, s: &mut Stmt) {
        s.push(" WHERE tenant_id = ")
            .text(self.tenant_id)
            .push(" AND account_id = ")
            .text(self.account_id);
        if let Some(entity) = self.entity {
            s.push(" AND entity = ").text(entity);
        }
        if let Some(ids) = self.ids {
            s.ids(ids);
        }
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
        ids: None,
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
    scope.filter(&mut fill);
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
    fn touched_spans_group_by_account_and_entity() {
        let mut t = Touched::default();
        t.add("a", "CAMPAIGN", "c1", 10 * HOUR_MS);
        t.add("a", "CAMPAIGN", "c2", 3 * HOUR_MS);
        t.add("a", "LINE_ITEM", "l1", 5 * HOUR_MS);
        t.add("b", "CAMPAIGN", "c9", 7 * HOUR_MS);
        assert_eq!(t.accounts().into_iter().collect::<Vec<_>>(), ["a", "b"]);
        let (ids, first, last) = &t.spans[&("a".to_owned(), "CAMPAIGN".to_owned())];
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["c1", "c2"]);
        assert_eq!((*first, *last), (3 * HOUR_MS, 10 * HOUR_MS));
        assert_ne!(lock_key("t", "a"), lock_key("t", "b"));
        assert_ne!(lock_key("ta", ""), lock_key("t", "a"));
    }
}
