//! Paging positions of the mirrors (`entities`, `media`): a counter per (tenant, table).
//!
//! A position is taken inside the transaction that writes the row it numbers, by an upsert of
//! the tenant's counter row. That row stays locked until the transaction ends (PostgreSQL's row
//! lock; SQLite's single writer), so the next writer of the same tenant reads the counter only
//! after this one committed or rolled back. Hence, per tenant, positions are unique and become
//! visible in increasing order: once a reader has seen position `n` committed, no row below `n`
//! can appear later, and `seq > after` paging cannot skip a row (ARCHITECTURE.md, "Paging").

use crate::db::DbError;

/// Reserves `n` (≥ 1) consecutive positions of `tenant_id` in `table` and answers the first.
/// Holds the tenant's counter until `tx` ends: keep the transaction short.
pub(crate) async fn reserve(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
    table: &'static str,
    n: i64,
) -> Result<i64, DbError> {
    let last: i64 = sqlx::query_scalar(
        "INSERT INTO paging_seq (tenant_id, name, last_seq) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, name) DO UPDATE SET last_seq = paging_seq.last_seq + $3
         RETURNING last_seq",
    )
    .bind(tenant_id)
    .bind(table)
    .bind(n)
    .fetch_one(&mut **tx)
    .await?;
    Ok(last - n + 1)
}
