//! FX reference rates: USD per one unit of a currency, by date, with their source.
//!
//! Two tables: `fx_rates`, the global rates every tenant uses (the bundled table, ECB and CSV
//! imports by operators), and `fx_rate_overrides`, the rates a tenant put in through the API,
//! which apply to that tenant alone and win over a global rate of the same date.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::Row;

use super::{millis, segments, stats};
use crate::db::{Db, DbError};
use crate::fx::{Rate, Source};

/// The rates of one currency, sorted by date: (date, USD per unit, source).
pub type RateSeries = Vec<(NaiveDate, Decimal, String)>;

/// Stores rates (a rate for the same currency and date is replaced), except that the bundled
/// table never overwrites a rate that came from anywhere else. Returns, per currency, the
/// earliest date that changed — where converted rows may need a new rate.
pub async fn upsert(
    db: &Db,
    rates: &[Rate],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, NaiveDate>, DbError> {
    let mut changed: BTreeMap<String, NaiveDate> = BTreeMap::new();
    let mut tx = db.pool().begin().await?;
    for r in rates {
        let value = r.usd_per_unit.normalize().to_string();
        let date = r.date.to_string();
        let n = sqlx::query(
            "INSERT INTO fx_rates (currency, rate_date, usd_per_unit, source, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (currency, rate_date) DO UPDATE SET usd_per_unit = excluded.usd_per_unit,
                source = excluded.source, updated_at = excluded.updated_at
             WHERE (excluded.source <> 'bundled' OR fx_rates.source = 'bundled')
               AND (fx_rates.usd_per_unit <> excluded.usd_per_unit OR fx_rates.source <> excluded.source)",
        )
        .bind(&r.currency)
        .bind(&date)
        .bind(&value)
        .bind(r.source.as_str())
        .bind(millis(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            note_change(&mut changed, r);
        }
    }
    tx.commit().await?;
    Ok(changed)
}

/// Remembers that `r` changed its currency's rates from its date on (the earliest date wins).
fn note_change(changed: &mut BTreeMap<String, NaiveDate>, r: &Rate) {
    let since = changed.entry(r.currency.clone()).or_insert(r.date);
    *since = (*since).min(r.date);
}

/// Loads the bundled table (on start; existing imported rates win).
pub async fn load_bundled(
    db: &Db,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, NaiveDate>, DbError> {
    upsert(db, &crate::fx::bundled(), now).await
}

/// Every stored rate of `currency`, oldest first.
pub async fn series(db: &Db, currency: &str) -> Result<RateSeries, DbError> {
    let rows = sqlx::query(
        "SELECT rate_date, usd_per_unit, source FROM fx_rates WHERE currency = $1 ORDER BY rate_date",
    )
    .bind(currency)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(parse_row).collect()
}

fn parse_row(r: &sqlx::any::AnyRow) -> Result<(NaiveDate, Decimal, String), DbError> {
    let date = NaiveDate::parse_from_str(&r.get::<String, _>(0), "%Y-%m-%d")
        .map_err(|_| DbError::Corrupt("fx_rates.rate_date is not a date"))?;
    let value: Decimal = r
        .get::<String, _>(1)
        .parse()
        .map_err(|_| DbError::Corrupt("fx_rates.usd_per_unit is not a decimal"))?;
    Ok((date, value, r.get(2)))
}

/// The rates of several currencies at once as `tenant_id` converts with them, for an ingestion
/// batch.
pub async fn series_for(
    db: &Db,
    tenant_id: &str,
    currencies: &[String],
) -> Result<HashMap<String, RateSeries>, DbError> {
    let mut out = HashMap::new();
    for c in currencies {
        if !out.contains_key(c) {
            out.insert(c.clone(), tenant_series(db, tenant_id, c).await?);
        }
    }
    Ok(out)
}

/// Stores a tenant's own rates (one for the same currency and date is replaced). Returns, per
/// currency, the earliest date that changed.
pub async fn upsert_overrides(
    db: &Db,
    tenant_id: &str,
    rates: &[Rate],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, NaiveDate>, DbError> {
    let mut changed: BTreeMap<String, NaiveDate> = BTreeMap::new();
    let mut tx = db.pool().begin().await?;
    for r in rates {
        let n = sqlx::query(
            "INSERT INTO fx_rate_overrides (tenant_id, currency, rate_date, usd_per_unit, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant_id, currency, rate_date) DO UPDATE
                SET usd_per_unit = excluded.usd_per_unit, updated_at = excluded.updated_at
             WHERE fx_rate_overrides.usd_per_unit <> excluded.usd_per_unit",
        )
        .bind(tenant_id)
        .bind(&r.currency)
        .bind(r.date.to_string())
        .bind(r.usd_per_unit.normalize().to_string())
        .bind(millis(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            note_change(&mut changed, r);
        }
    }
    tx.commit().await?;
    Ok(changed)
}

/// The rates of `currency` as `tenant_id` converts with them: the global series with the
/// tenant's own rates put over it (same date: the tenant's wins), oldest first.
pub async fn tenant_series(
    db: &Db,
    tenant_id: &str,
    currency: &str,
) -> Result<RateSeries, DbError> {
    let global = series(db, currency).await?;
    let rows = sqlx::query(
        "SELECT rate_date, usd_per_unit, 'api' FROM fx_rate_overrides
         WHERE tenant_id = $1 AND currency = $2 ORDER BY rate_date",
    )
    .bind(tenant_id)
    .bind(currency)
    .fetch_all(db.pool())
    .await?;
    if rows.is_empty() {
        return Ok(global);
    }
    let mut merged: BTreeMap<NaiveDate, (Decimal, String)> =
        global.into_iter().map(|(d, v, s)| (d, (v, s))).collect();
    for r in &rows {
        let (d, v, s) = parse_row(r)?;
        merged.insert(d, (v, s));
    }
    Ok(merged.into_iter().map(|(d, (v, s))| (d, v, s)).collect())
}

/// The tenants with stored rows (unsegmented or segment rows) in `currency`, of any date: those
/// a global rate change may concern. One seek per tenant in each table's `(currency, tenant_id,
/// account_id)` index; the re-conversion of each then reads only its accounts in that currency,
/// from the first hour the change reaches (a seek per account and window, and one empty read
/// per window, for a tenant whose rows all predate the change).
pub async fn tenants_with_rows(db: &Db, currency: &str) -> Result<Vec<String>, DbError> {
    let mut tenants = BTreeSet::new();
    for table in [stats::HOURLY.name, segments::SEGMENTS.name] {
        let next = format!(
            "SELECT tenant_id FROM {table} WHERE currency = $1 AND tenant_id > $2
             ORDER BY tenant_id LIMIT 1"
        );
        let mut after = String::new();
        while let Some(tenant) = stats::next_key(db, &next, &[currency], &after).await? {
            after = tenant;
            tenants.insert(after.clone());
        }
    }
    Ok(tenants.into_iter().collect())
}

/// Rates as the API lists them to `tenant_id`: the global ones and the tenant's own (source
/// `api`), newest first; other tenants' rates are never listed.
pub async fn list(db: &Db, tenant_id: &str, currency: Option<&str>) -> Result<Vec<Rate>, DbError> {
    page(db, tenant_id, currency, None, 1000).await
}

/// The key of a listed rate: its date, currency and source (`bundled`, `ecb`, `csv`, `api`).
pub type ListedRateKey<'a> = (NaiveDate, &'a str, &'a str);

/// At most `limit` rates as [`list`] orders them (newest first, then currency and source),
/// after the key of the previous page's last one.
pub async fn page(
    db: &Db,
    tenant_id: &str,
    currency: Option<&str>,
    after: Option<ListedRateKey<'_>>,
    limit: i64,
) -> Result<Vec<Rate>, DbError> {
    let rows = sqlx::query(
        "SELECT rate_date, usd_per_unit, source, currency FROM (
            SELECT rate_date, usd_per_unit, source, currency FROM fx_rates
             WHERE ($1 = '' OR currency = $1)
            UNION ALL
            SELECT rate_date, usd_per_unit, 'api' AS source, currency FROM fx_rate_overrides
             WHERE tenant_id = $2 AND ($1 = '' OR currency = $1)
         ) AS r
         WHERE $3 = 0 OR rate_date < $4 OR (rate_date = $4 AND (currency > $5
               OR (currency = $5 AND source > $6)))
         ORDER BY rate_date DESC, currency, source LIMIT $7",
    )
    .bind(currency.unwrap_or(""))
    .bind(tenant_id)
    .bind(i16::from(after.is_some()))
    .bind(after.map(|a| a.0.to_string()).unwrap_or_default())
    .bind(after.map(|a| a.1).unwrap_or(""))
    .bind(after.map(|a| a.2).unwrap_or(""))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let (date, usd_per_unit, source) = parse_row(r)?;
            Ok(Rate {
                currency: r.get(3),
                date,
                usd_per_unit,
                source: match source.as_str() {
                    "bundled" => Source::Bundled,
                    "ecb" => Source::Ecb,
                    "csv" => Source::Csv,
                    _ => Source::Api,
                },
            })
        })
        .collect()
}
