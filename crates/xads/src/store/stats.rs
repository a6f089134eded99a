//! Hourly stats rows (one per tenant, account, entity, hour, placement), their USD conversion,
//! per-account sync settings and the campaigns whose line items get their own stats.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;
use xads_client::vocab::{
    COLUMNS, MetricGroup, Objective, Placement, SegmentationType, StatsEntityType, column_index,
};

use super::daily;
use super::fx_rates::RateSeries;
use super::{from_millis, millis};
use crate::db::{Backend, Db, DbError};

/// A row's stored metrics, one per column of the client's metric table
/// (`xads_client::vocab::COLUMNS`: counts, then money), indexed by the constants below. `None`
/// only in a `nullable` column (its group was not asked: e.g. installs of a web campaign);
/// the other columns are always `Some` (0 when X had no data).
pub type Values = [Option<i64>; COLUMNS.len()];

/// Values with every column known and 0 (a nullable one too).
pub const ZERO: Values = [Some(0); COLUMNS.len()];

/// Values as a sync starts a row: 0, except the nullable columns, which stay unknown until
/// their group is asked.
pub fn unknown() -> Values {
    std::array::from_fn(|i| (!COLUMNS[i].nullable).then_some(0))
}

/// Where `impressions` is in [`Values`] (checked against the client's table at compile time).
pub const IMPRESSIONS: usize = column_index("impressions");
/// Where `clicks` is in [`Values`].
pub const CLICKS: usize = column_index("clicks");
/// Where `conversions` (web purchases) is in [`Values`].
pub const CONVERSIONS: usize = column_index("conversions");
/// Where `installs` (app installs: post-view plus post-engagement; null when not asked) is in
/// [`Values`].
pub const INSTALLS: usize = column_index("installs");
/// Where the spend in local micros is in [`Values`]; the one value converted to USD.
pub const SPEND_LOCAL_MICRO: usize = column_index("spend_local_micro");

/// How many of [`Values`] are counts (the rest are money, after `currency` in SQL and CSV).
pub const COUNTS: usize = {
    let mut n = 0;
    while n < COLUMNS.len() && !COLUMNS[n].micros {
        n += 1;
    }
    n
};

/// One stored hour of one entity in one placement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatRow {
    /// The ad account.
    pub account_id: String,
    /// `CAMPAIGN` or `LINE_ITEM`.
    pub entity: StatsEntityType,
    /// X's id.
    pub entity_id: String,
    /// Start of the UTC hour.
    pub hour: DateTime<Utc>,
    /// The stats placement.
    pub placement: Placement,
    /// The metrics, by column.
    pub values: Values,
    /// ISO-4217 of the spend.
    pub currency: String,
    /// The conversion, when a rate is known.
    pub fx: Option<Fx>,
}

/// The USD conversion of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fx {
    /// USD per one unit of the row's currency.
    pub rate: Decimal,
    /// The rate's date.
    pub date: NaiveDate,
    /// Where the rate came from.
    pub source: String,
    /// Spend in USD, 6 places.
    pub spend_usd: Decimal,
}

impl StatRow {
    /// Spend in local micros.
    pub fn spend_local_micro(&self) -> i64 {
        self.values[SPEND_LOCAL_MICRO].unwrap_or(0)
    }

    /// Sets the conversion from the rates of the row's currency (the latest on or before the
    /// UTC date of its hour); clears it when there is none.
    pub fn convert(&mut self, rates: Option<&RateSeries>) {
        self.fx = rates
            .and_then(|s| crate::fx::rate_on(s, self.hour.date_naive()))
            .map(|(date, rate, source)| Fx {
                rate: *rate,
                date: *date,
                source: source.clone(),
                spend_usd: crate::fx::spend_usd(self.spend_local_micro(), *rate),
            });
    }
}

/// The row's key columns, before its metrics.
const KEY: [&str; 5] = ["account_id", "entity", "entity_id", "hour", "placement"];
/// The conversion's columns, after the metrics.
const FX: [&str; 4] = ["fx_rate", "fx_rate_date", "fx_source", "spend_usd"];

/// Every column of a row in SQL order: the key, the counts, `currency`, the money columns (both
/// from the client's metric table), the conversion.
fn sql_columns() -> &'static [&'static str] {
    static ALL: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        let mut cols: Vec<&'static str> = KEY.to_vec();
        cols.extend(COLUMNS[..COUNTS].iter().map(|c| c.name));
        cols.push("currency");
        cols.extend(COLUMNS[COUNTS..].iter().map(|c| c.name));
        cols.extend(FX);
        cols
    });
    &ALL
}

/// [`sql_columns`] as a SELECT / INSERT list.
pub fn column_list() -> &'static str {
    static LIST: LazyLock<String> = LazyLock::new(|| sql_columns().join(", "));
    &LIST
}

/// Position of `hour` in [`sql_columns`].
const HOUR_AT: usize = 3;
/// Position of `currency` in [`sql_columns`], and of the first conversion column.
const CURRENCY_AT: usize = KEY.len() + COUNTS;
const FX_AT: usize = KEY.len() + COLUMNS.len() + 1;
/// Bound values per row in an upsert of `stats_hourly` (the columns above plus tenant and fetch
/// time); a [`Table`] with more key columns binds those too.
const BINDS: usize = 2 + FX_AT + FX.len();
/// Rows per statement: well under SQLite's 32 766 and Postgres' 65 535 bound values.
const BATCH: usize = 1000;
/// Bytes per `CopyData` message of [`upsert_pg`] (the sync bench's `COPY` reference sends the
/// same).
pub const COPY_MESSAGE: usize = 64 * 1024;

/// A table of stats rows: [`sql_columns`], then `N` key columns of its own (none for
/// `stats_hourly`; the segment for `stats_segments`, `store::segments`). One upsert serves both.
pub(crate) struct Table<const N: usize> {
    /// The table.
    pub name: &'static str,
    /// PostgreSQL's per-connection staging table of the `COPY` path.
    pub staging: &'static str,
    /// The key columns after [`sql_columns`].
    pub extra_key: [&'static str; N],
    /// The columns between `tenant_id, account_id` and `hour` of the index that holds a
    /// window's rows in hour order (`stats_hourly`: its primary key, so a window is one entity;
    /// `stats_segments`: its window index, a window being an entity type and a segment type):
    /// one step of [`reconvert`] reads one such window of an account over a span of hours.
    pub window: &'static [&'static str],
    /// Whether `stats_daily` rolls the table up (`store::daily`): every write refreshes it.
    pub rolled_up: bool,
    /// Whether PostgreSQL may `COPY` rows straight into the table when none of their keys can
    /// be stored yet ([`none_stored`]): its primary key must lead with (tenant, account, entity,
    /// entity id, hour), so that the check is one seek per entity.
    pub copy_new: bool,
}

/// `stats_hourly`: the unsegmented rows.
pub(crate) const HOURLY: Table<0> = Table {
    name: "stats_hourly",
    staging: "stats_in",
    extra_key: [],
    window: &["entity", "entity_id"],
    rolled_up: true,
    copy_new: true,
};

/// A row of a stats table with `N` key columns of its own (`StatRow`: none; `SegmentRow`: the
/// segment): its hourly row and those keys' values.
pub trait Stored<const N: usize>: Sync {
    /// The columns every stats table has.
    fn stat(&self) -> &StatRow;
    /// The same, to change.
    fn stat_mut(&mut self) -> &mut StatRow;
    /// The values of [`Table::extra_key`], in order.
    fn extra_key(&self) -> [&str; N];
}

impl Stored<0> for StatRow {
    fn stat(&self) -> &StatRow {
        self
    }

    fn stat_mut(&mut self) -> &mut StatRow {
        self
    }

    fn extra_key(&self) -> [&str; 0] {
        []
    }
}

impl<const N: usize> Table<N> {
    /// Every column of a row, in SQL order: [`sql_columns`], then the table's own key columns.
    pub(crate) fn column_list(&self) -> String {
        let mut cols = column_list().to_owned();
        for c in self.extra_key {
            cols.push_str(", ");
            cols.push_str(c);
        }
        cols
    }

    /// Where the table's own key columns start in a row read with [`Table::column_list`].
    pub(crate) fn extra_key_at(&self) -> usize {
        sql_columns().len()
    }

    /// Bound values per row.
    const fn binds(&self) -> usize {
        BINDS + N
    }

    /// The conflict clause: a row's key stays, everything else takes the new values, but only
    /// when one of them differs. Most of what a sync fetches again (the trailing hours of every
    /// hourly run) comes back unrevised, and such a row is then left as it is: PostgreSQL only
    /// locks it (no new row version, so no index entries), SQLite writes nothing for it.
    /// `fetched_at` is therefore when the row's values were last written. The row still counts
    /// as touched: its days are marked and its account's version moves as before.
    fn update_set(&self, backend: Backend) -> String {
        let mut sql = format!("ON CONFLICT (tenant_id, {}", KEY.join(", "));
        for c in self.extra_key {
            let _ = write!(sql, ", {c}");
        }
        sql.push_str(") DO UPDATE SET ");
        let values = &sql_columns()[KEY.len()..];
        for c in values {
            let _ = write!(sql, "{c} = excluded.{c}, ");
        }
        let list = |of: &str| {
            values
                .iter()
                .map(|c| format!("{of}.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // NULL-safe: an FX conversion that arrives (NULL → a rate) is a change.
        let differs = match backend {
            Backend::Sqlite => "IS NOT",
            Backend::Postgres => "IS DISTINCT FROM",
        };
        let _ = write!(
            sql,
            "fetched_at = excluded.fetched_at WHERE ({}) {differs} ({})",
            list(self.name),
            list("excluded")
        );
        sql
    }

    /// The multi-row upsert. SQLite gets anonymous `?` placeholders here, the one exception to
    /// the `$n` convention: SQLite treats `$1` as a *named* parameter and looks names up
    /// linearly, which makes binding thousands of them quadratic (measured: 97% of ingestion
    /// time).
    fn upsert_sql(&self, rows: usize, backend: Backend) -> String {
        let binds = self.binds();
        let mut sql = format!(
            "INSERT INTO {} (tenant_id, fetched_at, {}) VALUES ",
            self.name,
            self.column_list()
        );
        for r in 0..rows {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..binds {
                if c > 0 {
                    sql.push_str(", ");
                }
                match backend {
                    Backend::Sqlite => sql.push('?'),
                    Backend::Postgres => {
                        let _ = write!(sql, "${}", r * binds + c + 1);
                    }
                }
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(&self.update_set(backend));
        sql
    }
}

/// What writing `rows` touches: days of the roll-up of `table`, or (a table without one) only
/// the accounts, whose version moves either way.
fn touched<'a, const N: usize>(
    table: &Table<N>,
    rows: impl Iterator<Item = &'a StatRow>,
) -> daily::Touched {
    let mut touched = daily::Touched::default();
    for r in rows {
        if table.rolled_up {
            touched.add(&r.account_id, r.entity.as_str(), millis(r.hour));
        } else {
            touched.add_other(&r.account_id);
        }
    }
    touched
}

/// Inserts or replaces rows on their key, in one transaction; returns how many were given.
pub async fn upsert(
    db: &Db,
    tenant_id: &str,
    rows: &[StatRow],
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    upsert_into(db, &HOURLY, tenant_id, rows, now).await
}

/// Inserts or replaces rows of `table` on their key, in one transaction; returns how many were
/// given (a row whose values are already stored is given but not rewritten). SQLite: multi-row
/// `INSERT … ON CONFLICT` statements of [`BATCH`] rows; PostgreSQL: `COPY` ([`upsert_pg`]).
pub(crate) async fn upsert_into<R: Stored<N>, const N: usize>(
    db: &Db,
    table: &Table<N>,
    tenant_id: &str,
    rows: &[R],
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    if rows.is_empty() {
        return Ok(0);
    }
    if db.backend() == Backend::Postgres {
        return upsert_pg(db, table, tenant_id, rows, now).await;
    }
    // A statement per chunk size: the full batch's is written once, and only when there is one.
    let full_sql = (rows.len() >= BATCH).then(|| table.upsert_sql(BATCH, db.backend()));
    let mut tx = db.pool().begin().await?;
    for chunk in rows.chunks(BATCH) {
        let tail_sql;
        let sql = match &full_sql {
            Some(full) if chunk.len() == BATCH => full,
            _ => {
                tail_sql = table.upsert_sql(chunk.len(), db.backend());
                &tail_sql
            }
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for stored in chunk {
            let r = stored.stat();
            let fx = r.fx.as_ref();
            q = q
                .bind(tenant_id)
                .bind(millis(now))
                .bind(r.account_id.as_str())
                .bind(r.entity.as_str())
                .bind(r.entity_id.as_str())
                .bind(millis(r.hour))
                .bind(r.placement.as_str());
            for v in &r.values[..COUNTS] {
                q = q.bind(*v);
            }
            q = q.bind(r.currency.as_str());
            for v in &r.values[COUNTS..] {
                q = q.bind(*v);
            }
            q = q
                .bind(fx.map(|f| f.rate.to_string()))
                .bind(fx.map(|f| f.date.to_string()))
                .bind(fx.map(|f| f.source.clone()))
                .bind(fx.map(|f| f.spend_usd.to_string()));
            for k in stored.extra_key() {
                q = q.bind(k);
            }
        }
        q.execute(&mut *tx).await?;
    }
    daily::mark(
        &mut *tx,
        tenant_id,
        &touched(table, rows.iter().map(Stored::stat)),
    )
    .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// One text-format `COPY` field: `\N` for NULL, backslash escapes for the characters that
/// would end a field or a line.
fn push_copy_text(out: &mut String, s: Option<&str>) {
    let Some(s) = s else {
        out.push_str("\\N");
        return;
    };
    if !s.contains(['\\', '\t', '\n', '\r']) {
        out.push_str(s);
        return;
    }
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// A row's key, as [`copy_text`] compares them.
type CopyKey<'a, const N: usize> = (&'a str, &'a str, &'a str, i64, &'a str, [&'a str; N]);

fn copy_key<R: Stored<N>, const N: usize>(stored: &R) -> CopyKey<'_, N> {
    let r = stored.stat();
    (
        r.account_id.as_str(),
        r.entity.as_str(),
        r.entity_id.as_str(),
        millis(r.hour),
        r.placement.as_str(),
        stored.extra_key(),
    )
}

/// The rows as `COPY … FROM STDIN` text in [`Table::column_list`] order, after the tenant and
/// fetch time. When a key repeats, the last row wins (as SQLite's row-by-row upsert has it), so
/// the one `INSERT … ON CONFLICT` never meets a key twice.
fn copy_text<R: Stored<N>, const N: usize>(
    tenant_id: &str,
    rows: &[R],
    now: DateTime<Utc>,
) -> String {
    let mut last: HashMap<CopyKey<'_, N>, usize> = HashMap::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        last.insert(copy_key(r), i);
    }
    let unique = last.len() == rows.len();
    let mut text = String::with_capacity(rows.len() * (200 + 40 * N));
    let fetched = millis(now);
    for (i, stored) in rows.iter().enumerate() {
        if !unique && last.get(&copy_key(stored)) != Some(&i) {
            continue;
        }
        let r = stored.stat();
        push_copy_text(&mut text, Some(tenant_id));
        let _ = write!(text, "\t{fetched}\t");
        push_copy_text(&mut text, Some(&r.account_id));
        text.push('\t');
        push_copy_text(&mut text, Some(r.entity.as_str()));
        text.push('\t');
        push_copy_text(&mut text, Some(&r.entity_id));
        let _ = write!(text, "\t{}\t", millis(r.hour));
        push_copy_text(&mut text, Some(r.placement.as_str()));
        let push_value = |text: &mut String, v: &Option<i64>| match v {
            Some(v) => {
                let _ = write!(text, "\t{v}");
            }
            None => text.push_str("\t\\N"),
        };
        for v in &r.values[..COUNTS] {
            push_value(&mut text, v);
        }
        text.push('\t');
        push_copy_text(&mut text, Some(&r.currency));
        for v in &r.values[COUNTS..] {
            push_value(&mut text, v);
        }
        match &r.fx {
            Some(f) => {
                let _ = write!(text, "\t{}\t{}\t", f.rate, f.date);
                push_copy_text(&mut text, Some(&f.source));
                let _ = write!(text, "\t{}", f.spend_usd);
            }
            None => text.push_str("\t\\N\t\\N\t\\N\t\\N"),
        }
        for k in stored.extra_key() {
            text.push('\t');
            push_copy_text(&mut text, Some(k));
        }
        text.push('\n');
    }
    text
}

/// PostgreSQL: the rows go by `COPY` into a session-temporary staging table, then into the
/// table with one `INSERT … SELECT … ON CONFLICT`, in one transaction on the native pool (`Any`
/// has no `COPY`). Binding values row by row cost more than the upsert itself (measured 39 k
/// rows/s; `COPY` alone runs at ~300 k rows/s on the same machine). Rows of a table with
/// [`Table::copy_new`] none of whose keys can be stored yet ([`none_stored`]) go by `COPY`
/// straight into the table; should another writer commit one of their keys meanwhile, that
/// `COPY` fails on it and the write starts again the staging table's way.
async fn upsert_pg<R: Stored<N>, const N: usize>(
    db: &Db,
    table: &Table<N>,
    tenant_id: &str,
    rows: &[R],
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    let Some(pool) = db.pg_pool() else {
        return Err(DbError::Corrupt("no native PostgreSQL pool"));
    };
    let columns = table.column_list();
    let text = copy_text(tenant_id, rows, now);
    let mut tx = pool.begin().await?;
    if table.copy_new && none_stored(&mut tx, table.name, tenant_id, rows).await? {
        match copy_in(&mut tx, table.name, &columns, &text).await {
            Ok(()) => return mark_and_commit(tx, table, tenant_id, rows).await,
            // Another writer committed one of the keys since the check. The failed `COPY`
            // ended the transaction, which had written nothing: the upsert below starts again.
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                tx.rollback().await?;
                tx = pool.begin().await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Created once per connection; emptied by every commit. The notice that it exists already
    // is not worth a log line.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET LOCAL client_min_messages = warning;
         CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)
            ON COMMIT DELETE ROWS",
        table.staging, table.name
    )))
    .execute(&mut *tx)
    .await?;
    copy_in(&mut tx, table.staging, &columns, &text).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {name} (tenant_id, fetched_at, {columns})
         SELECT tenant_id, fetched_at, {columns} FROM {staging} {set}",
        name = table.name,
        staging = table.staging,
        set = table.update_set(Backend::Postgres)
    )))
    .execute(&mut *tx)
    .await?;
    mark_and_commit(tx, table, tenant_id, rows).await
}

/// Sends `text` (rows of [`copy_text`]) to `COPY target (tenant_id, fetched_at, columns) FROM
/// STDIN`. In messages of 64 KiB, as psql sends them:
/// sent as one message, every COPY of a sync call (about 3 000 rows) took some 40 ms longer
/// (measured over 34 such COPYs, 1.65 s whole against 0.29 s in parts, the server otherwise idle
/// while it waited for the data).
async fn copy_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    target: &str,
    columns: &str,
    text: &str,
) -> Result<(), sqlx::Error> {
    let mut copy = tx
        .copy_in_raw(&format!(
            "COPY {target} (tenant_id, fetched_at, {columns}) FROM STDIN"
        ))
        .await?;
    for part in text.as_bytes().chunks(COPY_MESSAGE) {
        copy.send(part).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// Whether no row of the table is stored for any of `rows`' entities within the span of their
/// hours: then none of their keys can conflict, and they may be copied in as they are (a
/// backfill, the first sync of an account or of a new entity).
/// One seek of the primary key per entity; a stored row of another placement in the span
/// counts too, which only sends the rows the usual way.
async fn none_stored<R: Stored<N>, const N: usize>(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
    tenant_id: &str,
    rows: &[R],
) -> Result<bool, DbError> {
    let mut entities: Vec<[&str; 3]> = rows
        .iter()
        .map(|r| {
            let r = r.stat();
            [r.account_id.as_str(), r.entity.as_str(), &r.entity_id]
        })
        .collect();
    entities.sort_unstable();
    entities.dedup();
    let column = |i: usize| entities.iter().map(|e| e[i]).collect::<Vec<_>>();
    let hours = rows.iter().map(|r| millis(r.stat().hour));
    let stored: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(stored_probe_sql(table)))
        .bind(tenant_id)
        .bind(column(0))
        .bind(column(1))
        .bind(column(2))
        .bind(hours.clone().min())
        .bind(hours.max())
        .fetch_one(&mut **tx)
        .await?;
    Ok(!stored)
}

/// [`none_stored`]'s statement on `table`: whether a row is stored for tenant `$1` and any of the
/// entities (`$2` accounts, `$3` entity types, `$4` ids, element by element) in hours `$5` to
/// `$6`. A seek of the primary key per entity, also in the generic plan of the prepared
/// statement (a join would let that plan scan the tenant's whole span of hours). The key
/// columns' collation (`"C"`) would win over the arrays' anyway; it is written out so that no
/// change of the arrays' types can turn the seek into a filter.
pub fn stored_probe_sql(table: &str) -> String {
    format!(
        "SELECT EXISTS (
           SELECT 1 FROM unnest($2::text[], $3::text[], $4::text[]) AS e (account_id, entity, id),
           LATERAL (SELECT 1 FROM {table} h
                     WHERE h.tenant_id = $1 AND h.account_id = e.account_id COLLATE \"C\"
                       AND h.entity = e.entity COLLATE \"C\" AND h.entity_id = e.id COLLATE \"C\"
                       AND h.hour >= $5 AND h.hour <= $6
                     LIMIT 1) s)"
    )
}

/// Marks what `rows` touched (`daily::mark`) and commits.
async fn mark_and_commit<R: Stored<N>, const N: usize>(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    table: &Table<N>,
    tenant_id: &str,
    rows: &[R],
) -> Result<usize, DbError> {
    daily::mark(
        &mut *tx,
        tenant_id,
        &touched(table, rows.iter().map(Stored::stat)),
    )
    .await?;
    tx.commit().await?;
    Ok(rows.len())
}

pub(crate) fn from_row(r: &AnyRow) -> Result<StatRow, DbError> {
    let corrupt = |_| DbError::Corrupt("stats_hourly holds a malformed FX value");
    let fx = match (
        r.get::<Option<String>, _>(FX_AT),
        r.get::<Option<String>, _>(FX_AT + 1),
        r.get::<Option<String>, _>(FX_AT + 2),
        r.get::<Option<String>, _>(FX_AT + 3),
    ) {
        (Some(rate), Some(date), Some(source), Some(usd)) => Some(Fx {
            rate: rate.parse().map_err(corrupt)?,
            date: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map_err(|_| DbError::Corrupt("stats_hourly.fx_rate_date is not a date"))?,
            source,
            spend_usd: usd.parse().map_err(corrupt)?,
        }),
        _ => None,
    };
    let mut values: Values = [None; COLUMNS.len()];
    for (i, v) in values.iter_mut().enumerate() {
        // The money columns sit after `currency`.
        let at = KEY.len() + i + usize::from(i >= COUNTS);
        *v = r.get(at);
    }
    Ok(StatRow {
        account_id: r.get(0),
        entity: r
            .get::<String, _>(1)
            .parse()
            .map_err(|_| DbError::Corrupt("stats_hourly.entity is not a stats entity"))?,
        entity_id: r.get(2),
        hour: from_millis(r.get(3)),
        placement: r
            .get::<String, _>(4)
            .parse()
            .map_err(|_| DbError::Corrupt("stats_hourly.placement is not a placement"))?,
        values,
        currency: r.get(CURRENCY_AT),
        fx,
    })
}

/// Stored rows of an account in `[from, to)`, of one entity type, optionally only some ids,
/// ordered by entity id, placement and hour.
pub async fn query(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    entity: StatsEntityType,
    ids: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<StatRow>, DbError> {
    let mut sql = format!(
        "SELECT {} FROM stats_hourly
         WHERE {SERIES} AND hour >= $4 AND hour < $5",
        column_list()
    );
    sql.push_str(&hourly_ids_in(ids, 6));
    sql.push_str(" ORDER BY entity_id, placement, hour");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(account_id)
        .bind(entity.as_str())
        .bind(millis(from))
        .bind(millis(to));
    for id in ids {
        q = q.bind(id.as_str());
    }
    q.fetch_all(db.pool()).await?.iter().map(from_row).collect()
}

/// The conditions that select one account's series of one entity type in a read of stats rows:
/// the tenant, account and entity type bound as `$1`, `$2` and `$3`.
const SERIES: &str = "tenant_id = $1 AND account_id = $2 AND entity = $3";

/// The filter on `entity_id` of a read of `stats_hourly` (not `stats_segments`, whose
/// entities it does not walk) whose `$1`, `$2` and `$3` are the tenant, account and entity
/// type: `ids`, bound from `$first` on, or (none given) every entity of the type with stored
/// rows ([`stored_ids_in`]). Either way the read seeks each entity's hours in the primary key.
fn hourly_ids_in(ids: &[String], first: usize) -> String {
    if ids.is_empty() {
        stored_ids_in(SERIES)
    } else {
        listed_ids_in(ids.len(), first)
    }
}

/// ` AND entity_id IN ($first, …)`: `n` ids bound from `$first` on.
fn listed_ids_in(n: usize, first: usize) -> String {
    let mut sql = String::from(" AND entity_id IN (");
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        let _ = write!(sql, "${}", i + first);
    }
    sql.push(')');
    sql
}

/// ` AND entity_id IN (…)`: the entities with rows in `stats_hourly` of the one account and
/// entity type that `key` selects (SQL on `tenant_id`, `account_id` and `entity`; written
/// twice, so its placeholders are bound once and read twice), found by a recursive walk of the
/// primary key, one seek per entity. `stats_hourly` has no index by hour (migration 0029): a
/// read of a span of hours over all of an account's entities seeks each entity's span in the
/// primary key through this list, where the bare condition would scan every stored hour of the
/// account. The walk visits every entity ever stored for the account and type, with hours in
/// the span or not: one seek each, however short the span.
pub(crate) fn stored_ids_in(key: &str) -> String {
    format!(
        " AND entity_id IN (WITH RECURSIVE ids (id) AS (
             SELECT MIN(entity_id) FROM stats_hourly WHERE {key}
             UNION ALL
             SELECT (SELECT MIN(entity_id) FROM stats_hourly WHERE {key} AND entity_id > ids.id)
             FROM ids WHERE ids.id IS NOT NULL)
           SELECT id FROM ids)"
    )
}

/// How [`aggregate`] buckets the hours of a series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bucketing {
    /// One bucket per stored hour; a bucket's key is the hour (epoch ms).
    Hour,
    /// One bucket per local day; a bucket's key is the local date as days since 1970-01-01.
    /// The zone is given as its UTC offsets over the window: `(from_ms, offset_ms)` sorted by
    /// `from_ms`, each offset holding from its instant to the next one's (the first one also
    /// before it).
    Day(Vec<(i64, i64)>),
    /// One bucket for the whole window; its key is 0.
    Total,
}

/// What [`aggregate`] reads: one account's stored series of one entity type in `[from, to)`,
/// only `ids` when some are given; the unsegmented rows (`stats_hourly`), or with `segment` the
/// rows of that segmentation (`stats_segments`, `store::segments`), never both.
#[derive(Clone, Debug)]
pub struct Aggregate {
    /// The tenant.
    pub tenant_id: String,
    /// The ad account.
    pub account_id: String,
    /// `CAMPAIGN` or `LINE_ITEM`.
    pub entity: StatsEntityType,
    /// Only these entities (all when empty).
    pub ids: Vec<String>,
    /// The first hour read.
    pub from: DateTime<Utc>,
    /// The end of the window (exclusive).
    pub to: DateTime<Utc>,
    /// The buckets.
    pub bucketing: Bucketing,
    /// Read the rows of this segmentation (a series per segment) instead of the unsegmented ones.
    pub segment: Option<SegmentationType>,
}

/// The sum of one entity's stored hours in one placement and bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// X's id.
    pub entity_id: String,
    /// The stats placement.
    pub placement: Placement,
    /// The bucket's key (see [`Bucketing`]).
    pub key: i64,
    /// Every stored metric, summed; a nullable column is `None` when no hour of the bucket
    /// knows it, and sums the hours that do otherwise.
    pub values: Values,
    /// The currency (the smallest code when the bucket's hours have several).
    pub currency: String,
    /// The conversion every hour of the bucket has: rate, its date, its source. `None` when
    /// none has one, or when they differ (then `mixed_fx`).
    pub fx: Option<(Decimal, NaiveDate, String)>,
    /// The hours were converted with different rates (or only some of them were).
    pub mixed_fx: bool,
    /// The USD sum, exact; `None` when an hour has no conversion.
    pub spend_usd: Option<Decimal>,
    /// The bucket's latest stored hour.
    pub last_hour: DateTime<Utc>,
    /// Some hour was converted with a stale rate (`fx::is_stale`: not USD, and the rate dated
    /// more than `fx::STALE_AFTER` before the hour's UTC date).
    pub fx_stale: bool,
    /// The segment's name and value, as X sent them, when [`Aggregate::segment`] was set.
    pub segment: Option<(String, String)>,
}

/// The SQL of [`aggregate`]: the grouping is done by the database, filtered by the key's
/// columns (and ids, and the segmentation) in SQL, so only the buckets cross the wire. `spend_usd` is stored with
/// exactly six places (`fx::spend_usd` rescales), so it sums exactly as micros.
pub fn aggregate_sql(q: &Aggregate, backend: Backend) -> String {
    hourly_sql(q, backend, true)
}

/// [`aggregate_sql`], its buckets in the answer's order or (`ordered` false: inside
/// [`aggregate_keys`]) in none.
fn hourly_sql(q: &Aggregate, backend: Backend, ordered: bool) -> String {
    let bucket = match &q.bucketing {
        Bucketing::Hour => "hour".to_owned(),
        Bucketing::Total => "0".to_owned(),
        Bucketing::Day(offsets) => daily::day_expr(offsets),
    };
    let mut sql = format!("SELECT entity_id, placement, CAST({bucket} AS BIGINT) AS b_key");
    for c in &COLUMNS {
        let _ = write!(sql, ", CAST(SUM({0}) AS BIGINT) AS m_{0}", c.name);
    }
    let _ = write!(
        sql,
        ", MIN(currency) AS b_currency, MAX(hour) AS b_last_hour, COUNT(*) AS b_hours, COUNT(fx_rate) AS b_fx_hours,
           MIN(fx_rate) AS b_rate_lo, MAX(fx_rate) AS b_rate_hi,
           MIN(fx_rate_date) AS b_date_lo, MAX(fx_rate_date) AS b_date_hi,
           MIN(fx_source) AS b_source_lo, MAX(fx_source) AS b_source_hi,
           COUNT(spend_usd) AS b_usd_hours,
           CAST(SUM(CAST(REPLACE(spend_usd, '.', '') AS BIGINT)) AS BIGINT) AS b_usd_micros,
           CAST(MAX({}) AS BIGINT) AS b_stale",
        daily::stale_expr(backend)
    );
    if q.segment.is_some() {
        sql.push_str(", segment_name, segment_value");
    }
    let _ = write!(
        sql,
        "
         FROM {}
         WHERE {SERIES} AND hour >= $4 AND hour < $5",
        if q.segment.is_some() {
            "stats_segments"
        } else {
            "stats_hourly"
        }
    );
    if q.segment.is_some() {
        // The segment table's window index leads with the account, entity and segment types,
        // then the hour: no walk of its entities needed.
        sql.push_str(" AND segment_type = $6");
        if !q.ids.is_empty() {
            sql.push_str(&listed_ids_in(q.ids.len(), 7));
        }
    } else {
        sql.push_str(&hourly_ids_in(&q.ids, 6));
    }
    // A segment's buckets follow each other, as an entity's do.
    sql.push_str(if q.segment.is_some() {
        " GROUP BY 1, 2, 3, segment_name, segment_value"
    } else {
        " GROUP BY 1, 2, 3"
    });
    if ordered {
        sql.push_str(if q.segment.is_some() {
            " ORDER BY 1, 2, segment_name, segment_value, 3"
        } else {
            " ORDER BY 1, 2, 3"
        });
    }
    sql
}

fn bucket_from(r: &AnyRow, segmented: bool) -> Result<Bucket, DbError> {
    let n = COLUMNS.len();
    let mut values: Values = [None; COLUMNS.len()];
    for (i, v) in values.iter_mut().enumerate() {
        *v = r.try_get(3 + i)?;
    }
    let at = 3 + n;
    let rows: i64 = r.try_get(at + 2)?;
    let with_fx: i64 = r.try_get(at + 3)?;
    let pair = |k: usize| -> Result<(Option<String>, Option<String>), DbError> {
        Ok((r.try_get(at + k)?, r.try_get(at + k + 1)?))
    };
    let (rate_lo, rate_hi) = pair(4)?;
    let (date_lo, date_hi) = pair(6)?;
    let (source_lo, source_hi) = pair(8)?;
    let same = rate_lo == rate_hi && date_lo == date_hi && source_lo == source_hi;
    let mixed_fx = (with_fx != 0 && with_fx != rows) || !same;
    let corrupt = |_| DbError::Corrupt("stats_hourly holds a malformed FX value");
    let fx = match (rate_lo, date_lo, source_lo) {
        (Some(rate), Some(date), Some(source)) if !mixed_fx => Some((
            rate.parse().map_err(corrupt)?,
            NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map_err(|_| DbError::Corrupt("stats_hourly.fx_rate_date is not a date"))?,
            source,
        )),
        _ => None,
    };
    let with_usd: i64 = r.try_get(at + 10)?;
    let usd_micros: Option<i64> = r.try_get(at + 11)?;
    let stale: i64 = r.try_get(at + 12)?;
    Ok(Bucket {
        entity_id: r.try_get(0)?,
        placement: r
            .try_get::<String, _>(1)?
            .parse()
            .map_err(|_| DbError::Corrupt("stats_hourly.placement is not a placement"))?,
        key: r.try_get(2)?,
        values,
        currency: r.try_get(at)?,
        fx,
        mixed_fx,
        spend_usd: (with_usd == rows).then(|| Decimal::new(usd_micros.unwrap_or(0), 6)),
        last_hour: from_millis(r.try_get(at + 1)?),
        fx_stale: stale != 0,
        segment: if segmented {
            Some((r.try_get(at + 13)?, r.try_get(at + 14)?))
        } else {
            None
        },
    })
}

/// Buckets per fetch handed from the database task to the reader of [`aggregate`].
const AGGREGATE_CHUNK: usize = 256;

/// The buckets of `q`, ordered by entity id, placement and key, as a stream: the rows are read
/// from a database cursor by a task of their own and handed over a few hundred at a time, so
/// memory stays flat however many buckets there are (a CSV export of years of hours). Dropping
/// the stream stops the read.
///
/// A read of whole local days (`Day` or `Total`, unsegmented) whose days match the account's
/// roll-up sums `stats_daily` (`store::daily`) instead of `stats_hourly`: the same buckets from
/// ~1/24 of the rows.
pub fn aggregate(
    db: &Db,
    q: Aggregate,
) -> impl futures::Stream<Item = Result<Bucket, DbError>> + Send + 'static {
    aggregate_from(db, q, true)
}

/// [`aggregate`] always from `stats_hourly`: the reference the roll-up must equal (tests and
/// benches compare the two).
pub fn aggregate_hourly(
    db: &Db,
    q: Aggregate,
) -> impl futures::Stream<Item = Result<Bucket, DbError>> + Send + 'static {
    aggregate_from(db, q, false)
}

/// The SQL of [`aggregate`] over `stats_daily`, for the days `[$4, $5)` (days since
/// 1970-01-01): the columns of [`aggregate_sql`], from the days' partial aggregates.
pub fn aggregate_daily_sql(q: &Aggregate) -> String {
    daily_sql(q, true)
}

/// [`aggregate_daily_sql`], ordered or not (see [`hourly_sql`]).
fn daily_sql(q: &Aggregate, ordered: bool) -> String {
    let key = if q.bucketing == Bucketing::Total {
        "0"
    } else {
        "day"
    };
    let mut sql = format!("SELECT entity_id, placement, CAST({key} AS BIGINT) AS b_key");
    for c in &COLUMNS {
        let _ = write!(sql, ", CAST(SUM({0}) AS BIGINT) AS m_{0}", c.name);
    }
    sql.push_str(
        ", MIN(currency_min) AS b_currency, MAX(last_hour) AS b_last_hour,
           CAST(SUM(hours) AS BIGINT) AS b_hours,
           CAST(SUM(fx_hours) AS BIGINT) AS b_fx_hours,
           MIN(fx_rate_min) AS b_rate_lo, MAX(fx_rate_max) AS b_rate_hi,
           MIN(fx_date_min) AS b_date_lo, MAX(fx_date_max) AS b_date_hi,
           MIN(fx_source_min) AS b_source_lo, MAX(fx_source_max) AS b_source_hi,
           CAST(SUM(usd_hours) AS BIGINT) AS b_usd_hours,
           CAST(SUM(usd_micros) AS BIGINT) AS b_usd_micros,
           CAST(MAX(fx_stale) AS BIGINT) AS b_stale
         FROM stats_daily
         WHERE tenant_id = $1 AND account_id = $2 AND entity = $3 AND day >= $4 AND day < $5",
    );
    if !q.ids.is_empty() {
        sql.push_str(" AND entity_id IN (");
        for i in 0..q.ids.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "${}", i + 6);
        }
        sql.push(')');
    }
    sql.push_str(" GROUP BY 1, 2, 3");
    if ordered {
        sql.push_str(" ORDER BY 1, 2, 3");
    }
    sql
}

/// The days of `stats_daily` that answer `q` exactly, when there are such: `q` is unsegmented,
/// by day or in total, over whole local days of the zone the account was rolled up in, and a
/// `Day` read cuts its days at that zone's offsets. The roll-up is settled only for a read it
/// answers: one that goes to the hourly rows never takes the writer's lock for it.
async fn daily_window(db: &Db, q: &Aggregate) -> Result<Option<(i64, i64)>, DbError> {
    if q.segment.is_some() || q.bucketing == Bucketing::Hour {
        return Ok(None);
    }
    let fits = |tz| match &q.bucketing {
        Bucketing::Day(offsets) if *offsets != daily::zone_offsets(tz, q.from, q.to) => None,
        _ => daily::whole_days(tz, q.from, q.to),
    };
    let (tz, unsettled) = daily::probe(db, &q.tenant_id, &q.account_id).await?;
    let fitted = fits(tz);
    if !unsettled || fitted.is_none() {
        return Ok(fitted);
    }
    // Settling reads the zone again under its lock: the days are cut in that one.
    Ok(fits(daily::settle(db, &q.tenant_id, &q.account_id).await?))
}

/// The statement that answers `q` — over `stats_daily` when `roll_up` and [`daily_window`]
/// finds whole days, else over the hourly (or segment) rows — and its bounds `$4`, `$5`.
async fn plan(
    db: &Db,
    q: &Aggregate,
    roll_up: bool,
    ordered: bool,
) -> Result<(String, i64, i64), DbError> {
    let days = if roll_up {
        daily_window(db, q).await?
    } else {
        None
    };
    Ok(match days {
        Some((first, end)) => (daily_sql(q, ordered), first, end),
        None => (
            hourly_sql(q, db.backend(), ordered),
            millis(q.from),
            millis(q.to),
        ),
    })
}

/// `sql` (of [`plan`]) with `q`'s values bound in order.
fn bound<'q>(
    sql: &'q str,
    q: &'q Aggregate,
    lo: i64,
    hi: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(q.tenant_id.as_str())
        .bind(q.account_id.as_str())
        .bind(q.entity.as_str())
        .bind(lo)
        .bind(hi);
    if let Some(segment) = q.segment {
        query = query.bind(segment.as_str());
    }
    for id in &q.ids {
        query = query.bind(id.as_str());
    }
    query
}

/// The buckets of [`aggregate`] with one key, summed over every entity and placement (and
/// segment) by the database: what a chart of the whole account plots per day or hour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyTotal {
    /// The buckets' key (see [`Bucketing`]).
    pub key: i64,
    /// Every metric summed over the buckets; a nullable column is `None` when no bucket knows
    /// it.
    pub values: Values,
    /// The USD of the buckets whose every hour has it (a bucket with [`Bucket::spend_usd`]),
    /// summed exactly.
    pub spend_usd: Decimal,
    /// Some bucket with spend has no USD ([`Bucket::spend_usd`] `None` while its local spend
    /// is above 0).
    pub usd_missing: bool,
    /// Some bucket was converted with a stale rate ([`Bucket::fx_stale`]).
    pub fx_stale: bool,
    /// The rates (USD per unit, its date) of the stale buckets converted with one rate
    /// ([`Bucket::fx`] set and [`Bucket::fx_stale`]), each once, sorted.
    pub stale_rates: Vec<(Decimal, NaiveDate)>,
}

/// The SQL of [`aggregate_keys`]: the buckets of `inner` (an unordered [`aggregate_sql`] or
/// [`aggregate_daily_sql`]) summed per key, with the stale single rates as the last two
/// columns (one answer row per key and stale rate).
fn keys_sql(inner: &str) -> String {
    let mut sql = String::from("SELECT b_key");
    for c in &COLUMNS {
        let _ = write!(sql, ", CAST(SUM(m_{}) AS BIGINT)", c.name);
    }
    // A bucket has USD when every hour has (`Bucket::spend_usd`), one rate when every hour has
    // the same rate, date and source (`Bucket::fx`, as `bucket_from` decides it): SQL's `=` is
    // false where either is NULL.
    let single = "b_stale <> 0 AND b_fx_hours = b_hours AND b_rate_lo = b_rate_hi
                 AND b_date_lo = b_date_hi AND b_source_lo = b_source_hi";
    let _ = write!(
        sql,
        ", CAST(SUM(CASE WHEN b_usd_hours = b_hours THEN b_usd_micros ELSE 0 END) AS BIGINT),
           CAST(MAX(CASE WHEN b_usd_hours <> b_hours AND m_{spend} > 0 THEN 1 ELSE 0 END)
                AS BIGINT),
           CAST(MAX(b_stale) AS BIGINT),
           CASE WHEN {single} THEN b_rate_lo END,
           CASE WHEN {single} THEN b_date_lo END
         FROM ({inner}) AS buckets
         GROUP BY 1, {rate}, {date} ORDER BY 1",
        spend = COLUMNS[SPEND_LOCAL_MICRO].name,
        rate = COLUMNS.len() + 5,
        date = COLUMNS.len() + 6,
    );
    sql
}

/// The buckets of `q` ([`aggregate`]'s, from the roll-up where it answers) summed per key over
/// every entity and placement in the database, in key order: a chart's points, without the
/// per-entity buckets crossing the wire.
pub async fn aggregate_keys(db: &Db, q: &Aggregate) -> Result<Vec<KeyTotal>, DbError> {
    let (inner, lo, hi) = plan(db, q, true, false).await?;
    let sql = keys_sql(&inner);
    let rows = bound(&sql, q, lo, hi).fetch_all(db.pool()).await?;
    let mut out: Vec<KeyTotal> = Vec::new();
    let at = 1 + COLUMNS.len();
    for r in &rows {
        let key: i64 = r.try_get(0)?;
        let mut values: Values = [None; COLUMNS.len()];
        for (i, v) in values.iter_mut().enumerate() {
            *v = r.try_get(1 + i)?;
        }
        let usd: Option<i64> = r.try_get(at)?;
        let missing: i64 = r.try_get(at + 1)?;
        let stale: i64 = r.try_get(at + 2)?;
        let rate: Option<String> = r.try_get(at + 3)?;
        let date: Option<String> = r.try_get(at + 4)?;
        let stale_rate = match (rate, date) {
            (Some(rate), Some(date)) => Some((
                rate.parse::<Decimal>()
                    .map_err(|_| DbError::Corrupt("stats_hourly holds a malformed FX value"))?,
                NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                    .map_err(|_| DbError::Corrupt("stats_hourly.fx_rate_date is not a date"))?,
            )),
            _ => None,
        };
        let part = KeyTotal {
            key,
            values,
            spend_usd: Decimal::new(usd.unwrap_or(0), 6),
            usd_missing: missing != 0,
            fx_stale: stale != 0,
            stale_rates: stale_rate.into_iter().collect(),
        };
        // One key's rows (one per stale rate) follow each other: fold them into one.
        match out.last_mut() {
            Some(last) if last.key == key => last.add(part),
            _ => out.push(part),
        }
    }
    for k in &mut out {
        k.stale_rates.sort();
    }
    Ok(out)
}

impl KeyTotal {
    /// Adds another part of the same key.
    fn add(&mut self, o: KeyTotal) {
        for (v, w) in self.values.iter_mut().zip(o.values) {
            *v = match (*v, w) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
            };
        }
        self.spend_usd += o.spend_usd;
        self.usd_missing |= o.usd_missing;
        self.fx_stale |= o.fx_stale;
        for r in o.stale_rates {
            if !self.stale_rates.contains(&r) {
                self.stale_rates.push(r);
            }
        }
    }
}

fn aggregate_from(
    db: &Db,
    q: Aggregate,
    roll_up: bool,
) -> impl futures::Stream<Item = Result<Bucket, DbError>> + Send + 'static {
    use futures::{StreamExt as _, TryStreamExt as _};
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<Bucket>, DbError>>(4);
    let db = db.clone();
    tokio::spawn(async move {
        let (sql, lo, hi) = match plan(&db, &q, roll_up, true).await {
            Ok(plan) => plan,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let mut rows = bound(&sql, &q, lo, hi).fetch(db.pool());
        let mut chunk = Vec::with_capacity(AGGREGATE_CHUNK);
        loop {
            let next = match rows.try_next().await {
                Ok(Some(r)) => bucket_from(&r, q.segment.is_some()),
                Ok(None) => break,
                Err(e) => Err(e.into()),
            };
            match next {
                Ok(b) => chunk.push(b),
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
            if chunk.len() == AGGREGATE_CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(AGGREGATE_CHUNK));
                if tx.send(Ok(full)).await.is_err() {
                    return; // the reader is gone
                }
            }
        }
        if !chunk.is_empty() {
            let _ = tx.send(Ok(chunk)).await;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .flat_map(|item| {
        futures::stream::iter(match item {
            Ok(chunk) => chunk.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    })
}

/// How many rows are stored for the account (tests and the CLI's summary).
pub async fn count(db: &Db, tenant_id: &str, account_id: &str) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM stats_hourly WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_one(db.pool())
    .await?)
}

/// Rows per read of [`reconvert`] (an hour with more rows in one window is read alone, whole),
/// and changed rows per `UPDATE` and transaction, so a back-dated rate never rewrites years of
/// rows in one transaction.
pub const RECONVERT_CHUNK: usize = 1000;

/// Re-converts `tenant_id`'s unsegmented rows of `currency` from `since` on with `rates` (that
/// tenant's series): reads them window by window in whole hours, about `RECONVERT_CHUNK` rows
/// at a time, and writes the rows whose conversion changed with one `UPDATE … FROM (VALUES …)`
/// per `RECONVERT_CHUNK` of them. Returns how many rows changed. (`segments::reconvert` does
/// the same for segment rows.)
pub async fn reconvert(
    db: &Db,
    tenant_id: &str,
    currency: &str,
    since: NaiveDate,
    rates: &RateSeries,
) -> Result<u64, DbError> {
    reconvert_in(db, &HOURLY, tenant_id, currency, since, rates).await
}

/// [`reconvert`] of the rows of `table`: account by account of those holding the currency (the
/// `(currency, tenant_id, account_id)` index), then window by window under each
/// ([`Table::window`]: each entity in `stats_hourly`, each entity type and segment type in
/// `stats_segments`), each read in whole hours through the index that holds the window in hour
/// order (it has no index of its own: why is in migration 0028).
pub(crate) async fn reconvert_in<const N: usize>(
    db: &Db,
    table: &Table<N>,
    tenant_id: &str,
    currency: &str,
    since: NaiveDate,
    rates: &RateSeries,
) -> Result<u64, DbError> {
    let since_ms = millis(since.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    let sql = ReconvertSql::new(table);
    let mut updated = 0;
    let mut account = String::new();
    while let Some(next_account) =
        next_key(db, &sql.next_account, &[currency, tenant_id], &account).await?
    {
        account = next_account;
        let mut after_window = None;
        while let Some(rest) =
            next_window(db, &sql, tenant_id, &account, after_window.as_deref()).await?
        {
            let window = Window {
                tenant_id,
                account_id: &account,
                rest: &rest,
            };
            updated +=
                reconvert_window(db, table, &sql, &window, currency, since_ms, rates).await?;
            after_window = Some(rest);
        }
    }
    Ok(updated)
}

/// The next value of an ordered key: `sql` selects one text column, binding `binds` and then
/// the value to follow (`> $n`). A loop of these walks the distinct values of an index's
/// column, one seek each, where `SELECT DISTINCT` would read every entry.
pub(crate) async fn next_key(
    db: &Db,
    sql: &str,
    binds: &[&str],
    after: &str,
) -> Result<Option<String>, DbError> {
    let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(*b);
    }
    Ok(q.bind(after).fetch_optional(db.pool()).await?)
}

/// The statements of [`reconvert_in`] over one table, written once per call.
struct ReconvertSql {
    /// The tenant's next account (after `$3`) holding rows of the currency.
    next_account: String,
    /// `next_window[k]`: the account's first window whose first `k` values ([`Table::window`])
    /// are the ones bound, the last of them compared with `>`, the rest with `=`.
    next_window: Vec<String>,
    /// A window's rows from an hour on, in hour order, one read's worth.
    from_hour: String,
    /// A window's rows of one hour.
    one_hour: String,
}

impl ReconvertSql {
    fn new<const N: usize>(table: &Table<N>) -> Self {
        let columns = table.window.join(", ");
        let next_window = (0..=table.window.len())
            .map(|k| {
                let mut sql = format!(
                    "SELECT {columns} FROM {} WHERE tenant_id = $1 AND account_id = $2",
                    table.name
                );
                for (i, c) in table.window.iter().enumerate().take(k) {
                    let op = if i + 1 == k { ">" } else { "=" };
                    let _ = write!(sql, " AND {c} {op} ${}", i + 3);
                }
                let _ = write!(sql, " ORDER BY {columns} LIMIT 1");
                sql
            })
            .collect();
        Self {
            next_account: format!(
                "SELECT account_id FROM {} WHERE currency = $1 AND tenant_id = $2
                   AND account_id > $3
                 ORDER BY account_id LIMIT 1",
                table.name
            ),
            next_window,
            from_hour: Self::window_read(
                table,
                ">=",
                &format!(" ORDER BY hour LIMIT {RECONVERT_CHUNK}"),
            ),
            one_hour: Self::window_read(table, "=", ""),
        }
    }

    /// A select of a window's rows of a currency by `hour {hour_op}` an hour, then `tail`: the
    /// values in the order [`Window::read`] binds them.
    fn window_read<const N: usize>(table: &Table<N>, hour_op: &str, tail: &str) -> String {
        let mut sql = format!(
            "SELECT {} FROM {} WHERE tenant_id = $1 AND account_id = $2",
            table.column_list(),
            table.name
        );
        let mut n = 2;
        for c in table.window {
            n += 1;
            let _ = write!(sql, " AND {c} = ${n}");
        }
        let _ = write!(
            sql,
            " AND currency = ${} AND hour {hour_op} ${}{tail}",
            n + 1,
            n + 2
        );
        sql
    }
}

/// One window of a tenant's rows: an account and the values of [`Table::window`].
struct Window<'a> {
    tenant_id: &'a str,
    account_id: &'a str,
    rest: &'a [String],
}

impl Window<'_> {
    /// Runs one of [`ReconvertSql`]'s window reads for this window, `currency` and `hour`.
    async fn read(
        &self,
        db: &Db,
        sql: &str,
        currency: &str,
        hour: i64,
    ) -> Result<Vec<AnyRow>, DbError> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.tenant_id)
            .bind(self.account_id);
        for v in self.rest {
            q = q.bind(v.as_str());
        }
        Ok(q.bind(currency).bind(hour).fetch_all(db.pool()).await?)
    }
}

/// The first window of `tenant_id`'s `account_id` after `after` (the first of all without it),
/// given by the values of [`Table::window`]: the next one that shares all but the last of them
/// with `after`, else all but the last two, and so on; each a seek in the window's index. (One
/// row comparison over all the columns would be one query, but SQLite then steps over every row
/// of `after`'s window.)
async fn next_window(
    db: &Db,
    sql: &ReconvertSql,
    tenant_id: &str,
    account_id: &str,
    after: Option<&[String]>,
) -> Result<Option<Vec<String>>, DbError> {
    let levels = match after {
        Some(after) => (0..after.len()).rev().map(|l| &after[..=l]).collect(),
        None => vec![&[][..]],
    };
    for prefix in levels {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.next_window[prefix.len()].as_str()))
            .bind(tenant_id)
            .bind(account_id);
        for v in prefix {
            q = q.bind(v.as_str());
        }
        if let Some(row) = q.fetch_optional(db.pool()).await? {
            let width = sql.next_window.len() - 1;
            return Ok(Some((0..width).map(|i| row.get::<String, _>(i)).collect()));
        }
    }
    Ok(None)
}

/// Re-converts one window's rows of `currency` from `since_ms` on, reading whole hours in its
/// index's order (no sort): a read of up to [`RECONVERT_CHUNK`] rows keeps the hours it
/// holds whole and leaves its last hour to the next read, unless that hour is all it holds,
/// which is then read alone, however many rows it has (the window's entities × placements ×
/// segments of one hour, all in memory). A row is read at most three times: the end of one
/// read, a next read that its hour fills, and that hour alone. Each [`RECONVERT_CHUNK`]
/// changed rows are written in a transaction of their own.
async fn reconvert_window<const N: usize>(
    db: &Db,
    table: &Table<N>,
    sql: &ReconvertSql,
    window: &Window<'_>,
    currency: &str,
    since_ms: i64,
    rates: &RateSeries,
) -> Result<u64, DbError> {
    let extra_at = table.extra_key_at();
    let mut updated = 0;
    let mut from = since_ms;
    loop {
        let page = window.read(db, &sql.from_hour, currency, from).await?;
        let full = page.len() == RECONVERT_CHUNK;
        let last: i64 = match page.last() {
            Some(r) => r.get(HOUR_AT),
            None => return Ok(updated),
        };
        // The rows to convert now, and where the next read starts (none: this was the last).
        let (rows, resume_at) = if !full {
            (page, None)
        } else if page.first().map(|r| r.get::<i64, _>(HOUR_AT)) == Some(last) {
            // One hour fills the read: that hour alone, whole.
            (
                window.read(db, &sql.one_hour, currency, last).await?,
                Some(last + 1),
            )
        } else {
            // The last hour may go on past the read: the next read starts with it.
            let earlier = page
                .into_iter()
                .filter(|r| r.get::<i64, _>(HOUR_AT) < last)
                .collect();
            (earlier, Some(last))
        };
        let mut changed = Vec::new();
        for r in &rows {
            let mut row = from_row(r)?;
            let before = row.fx.clone();
            row.convert(Some(rates));
            if row.fx != before {
                let extra: [String; N] = std::array::from_fn(|i| r.get(extra_at + i));
                changed.push((row, extra));
            }
        }
        for part in changed.chunks(RECONVERT_CHUNK) {
            // The new conversions and the days they change commit together.
            let mut tx = db.pool().begin().await?;
            updated +=
                write_conversions(&mut tx, db.backend(), table, window.tenant_id, part).await?;
            let touched = touched(table, part.iter().map(|(r, _)| r));
            daily::mark(&mut *tx, window.tenant_id, &touched).await?;
            tx.commit().await?;
        }
        match resume_at {
            Some(hour) => from = hour,
            None => return Ok(updated),
        }
    }
}

/// Writes the conversions of `rows` (one tenant's rows of `table`, each with the values of the
/// table's own key columns) in one statement.
async fn write_conversions<const N: usize>(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    table: &Table<N>,
    tenant_id: &str,
    rows: &[(StatRow, [String; N])],
) -> Result<u64, DbError> {
    let per_row = 9 + N;
    let mut n = 0;
    let mut placeholder = |sql: &mut String| {
        n += 1;
        match backend {
            Backend::Sqlite => sql.push('?'),
            Backend::Postgres => {
                let _ = write!(sql, "${n}");
            }
        }
    };
    let t = table.name;
    let mut sql = format!(
        "UPDATE {t} SET fx_rate = v.column1, fx_rate_date = v.column2,
            fx_source = v.column3, spend_usd = v.column4
         FROM (VALUES "
    );
    for i in 0..rows.len() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for c in 0..per_row {
            if c > 0 {
                sql.push_str(", ");
            }
            placeholder(&mut sql);
        }
        sql.push(')');
    }
    let _ = write!(sql, ") AS v WHERE {t}.tenant_id = ");
    placeholder(&mut sql);
    let _ = write!(
        sql,
        " AND {t}.account_id = v.column5 AND {t}.entity = v.column6
           AND {t}.entity_id = v.column7 AND {t}.hour = v.column8
           AND {t}.placement = v.column9"
    );
    for (i, c) in table.extra_key.iter().enumerate() {
        let _ = write!(sql, " AND {t}.{c} = v.column{}", 10 + i);
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (row, extra) in rows {
        let fx = row.fx.as_ref();
        q = q
            .bind(fx.map(|f| f.rate.to_string()))
            .bind(fx.map(|f| f.date.to_string()))
            .bind(fx.map(|f| f.source.clone()))
            .bind(fx.map(|f| f.spend_usd.to_string()))
            .bind(row.account_id.as_str())
            .bind(row.entity.as_str())
            .bind(row.entity_id.as_str())
            .bind(millis(row.hour))
            .bind(row.placement.as_str());
        for k in extra {
            q = q.bind(k.as_str());
        }
    }
    Ok(q.bind(tenant_id).execute(conn).await?.rows_affected())
}

/// Per-account sync settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Placements to pull, one call each (default `ALL_ON_TWITTER`).
    pub placements: Vec<Placement>,
    /// Conversion metric groups to add: `WEB_CONVERSION` (default, same call). Not
    /// `MOBILE_CONVERSION`: the sync asks it by itself about the account's app campaigns
    /// ([`app_entities`]), and a stored `MOBILE_CONVERSION` here changes nothing.
    pub conversions: Vec<MetricGroup>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            placements: vec![Placement::AllOnTwitter],
            conversions: vec![MetricGroup::WebConversion],
        }
    }
}

/// A stored comma list of X's wire strings; values outside the vocabulary are skipped.
fn split<T: std::str::FromStr>(s: &str) -> Vec<T> {
    s.split(',')
        .map(str::trim)
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn join<T: AsRef<str>>(values: &[T]) -> String {
    values
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(",")
}

/// The account's settings (defaults when never set).
pub async fn settings(db: &Db, tenant_id: &str, account_id: &str) -> Result<Settings, DbError> {
    let row = sqlx::query(
        "SELECT placements, conversions FROM stats_settings WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        None => Settings::default(),
        Some(r) => Settings {
            placements: split(&r.get::<String, _>(0)),
            conversions: split(&r.get::<String, _>(1)),
        },
    })
}

/// Replaces the account's settings.
pub async fn set_settings(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    s: &Settings,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO stats_settings (tenant_id, account_id, placements, conversions) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, account_id) DO UPDATE SET placements = excluded.placements,
            conversions = excluded.conversions",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(join(&s.placements))
    .bind(join(&s.conversions))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Asks every later sync to also pull `LINE_ITEM` stats for the line items of these campaigns
/// (experiments compare line items of one campaign).
pub async fn track_line_items(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    campaign_ids: &[String],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    for c in campaign_ids {
        sqlx::query(
            "INSERT INTO stats_line_item_campaigns (tenant_id, account_id, campaign_id, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, account_id, campaign_id) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(c)
        .bind(millis(now))
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// Stops pulling `LINE_ITEM` stats for these campaigns (rows already stored stay).
pub async fn untrack_line_items(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    campaign_ids: &[String],
) -> Result<(), DbError> {
    for c in campaign_ids {
        sqlx::query(
            "DELETE FROM stats_line_item_campaigns WHERE tenant_id = $1 AND account_id = $2 AND campaign_id = $3",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(c)
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// The campaigns whose line items get `LINE_ITEM` stats.
pub async fn line_item_campaigns(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT campaign_id FROM stats_line_item_campaigns WHERE tenant_id = $1 AND account_id = $2
         ORDER BY campaign_id",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(db.pool())
    .await?)
}

/// The mirrored document in column `at`, or `Null` where the query left it out (`CASE … END`:
/// a promoted tweet's, the most numerous, holds neither a currency nor an objective).
fn document(r: &AnyRow, at: usize) -> serde_json::Value {
    r.get::<Option<String>, _>(at)
        .and_then(|d| serde_json::from_str(&d).ok())
        .unwrap_or_default()
}

/// The currency of each mirrored campaign, line item and promoted tweet of the account (from
/// the mirror's `currency` field, which X copies from the funding instrument; a promoted tweet,
/// which has none, spends in its line item's).
pub async fn entity_currencies(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
) -> Result<HashMap<String, String>, DbError> {
    let rows = sqlx::query(
        "SELECT id, parent_id, CASE WHEN kind <> 'promoted_tweet' THEN data END FROM entities
         WHERE tenant_id = $1 AND account_id = $2
           AND kind IN ('campaign', 'line_item', 'promoted_tweet') AND dry_run = 0",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    let mut out = HashMap::new();
    let mut orphans = Vec::new();
    for r in rows {
        let data = document(&r, 2);
        let id = r.get::<String, _>(0);
        match data.get("currency").and_then(|c| c.as_str()) {
            Some(c) => {
                out.insert(id, c.to_owned());
            }
            None => orphans.extend(r.get::<Option<String>, _>(1).map(|parent| (id, parent))),
        }
    }
    for (id, parent) in orphans {
        if let Some(c) = out.get(&parent).cloned() {
            out.insert(id, c);
        }
    }
    Ok(out)
}

/// The account's app entities in the mirror: every line item (deleted ones too: they have
/// history) whose objective is an app one (`APP_INSTALLS`, `APP_ENGAGEMENTS`), the campaigns
/// holding one and the promoted tweets it promotes. Their installs come with
/// `MOBILE_CONVERSION`; dry-run entities are not at X.
pub async fn app_entities(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
) -> Result<std::collections::BTreeSet<String>, DbError> {
    let rows = sqlx::query(
        "SELECT id, parent_id, CASE WHEN kind = 'line_item' THEN data END, kind FROM entities
         WHERE tenant_id = $1 AND account_id = $2 AND kind IN ('line_item', 'promoted_tweet')
           AND dry_run = 0",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    let mut out = std::collections::BTreeSet::new();
    let mut tweets = Vec::new();
    for r in rows {
        let parent = r.get::<Option<String>, _>(1);
        if r.get::<String, _>(3) == "promoted_tweet" {
            tweets.extend(parent.map(|line_item| (r.get::<String, _>(0), line_item)));
            continue;
        }
        let data = document(&r, 2);
        let app = data
            .get("objective")
            .and_then(|o| o.as_str())
            .and_then(|o| o.parse::<Objective>().ok())
            .is_some_and(Objective::is_app);
        if app {
            out.insert(r.get::<String, _>(0));
            out.extend(parent);
        }
    }
    for (tweet, line_item) in tweets {
        if out.contains(&line_item) {
            out.insert(tweet);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_columns_come_from_the_clients_metric_table_in_the_stored_order() {
        // The order the migrations and every stored row have always had.
        assert_eq!(
            column_list(),
            "account_id, entity, entity_id, hour, placement, impressions, clicks, engagements, \
             retweets, likes, replies, follows, billed_engagements, conversions, installs, \
             currency, spend_local_micro, fx_rate, fx_rate_date, fx_source, spend_usd"
        );
        assert_eq!(sql_columns()[HOUR_AT], "hour");
        assert_eq!(sql_columns()[CURRENCY_AT], "currency");
        assert_eq!(sql_columns()[FX_AT], "fx_rate");
        assert_eq!(BINDS, sql_columns().len() + 2);
        for c in &COLUMNS {
            assert!(sql_columns().contains(&c.name), "{}", c.name);
            for backend in [Backend::Sqlite, Backend::Postgres] {
                let set = HOURLY.update_set(backend);
                assert!(set.contains(&format!("{0} = excluded.{0}", c.name)));
                assert!(
                    set.contains(&format!("stats_hourly.{0}", c.name)),
                    "compared"
                );
            }
        }
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let set = HOURLY.update_set(backend);
            assert!(!set.contains("entity_id = excluded"), "the key stays");
            assert!(!set.contains("stats_hourly.fetched_at"), "not compared");
            assert!(set.contains("stats_hourly.currency") && set.contains("stats_hourly.fx_rate"));
        }
        // One statement's placeholders: one per column and row.
        let sql = HOURLY.upsert_sql(2, Backend::Postgres);
        assert!(
            sql.contains(&format!("${}", 2 * BINDS))
                && !sql.contains(&format!("${}", 2 * BINDS + 1))
        );
    }

    #[test]
    fn settings_keep_only_xs_vocabulary() {
        assert_eq!(
            split::<Placement>("ALL_ON_TWITTER, NOWHERE,TREND"),
            [Placement::AllOnTwitter, Placement::Trend]
        );
        assert_eq!(
            join(&[MetricGroup::WebConversion, MetricGroup::MobileConversion]),
            "WEB_CONVERSION,MOBILE_CONVERSION"
        );
    }
}
