//! The local mirror of X entities (and dry-run entities), in the shape our API shows them.

use serde_json::Value;
use sqlx::Row;

use super::millis;
use crate::db::{Db, DbError};

/// What kind of entity a mirror row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A campaign.
    Campaign,
    /// A line item (X's ad set).
    LineItem,
    /// A promoted tweet.
    PromotedTweet,
}

impl Kind {
    /// The stored name, also used in audit rows and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Campaign => "campaign",
            Kind::LineItem => "line_item",
            Kind::PromotedTweet => "promoted_tweet",
        }
    }
}

/// One mirrored entity.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// Its kind.
    pub kind: Kind,
    /// The ad account.
    pub account_id: String,
    /// X's id, or `dry_…`.
    pub id: String,
    /// The parent (campaign of a line item, line item of a promoted tweet).
    pub parent_id: Option<String>,
    /// Made in dry-run: X has never seen it.
    pub dry_run: bool,
    /// Deleted (kept for history).
    pub deleted: bool,
    /// The API representation.
    pub data: Value,
}

/// Inserts or replaces an entity. An existing one keeps its paging position (a reader sees it
/// where it was), unless it comes back from deleted: then it moves to the end, where a reader
/// still paging finds it.
pub async fn upsert(
    db: &Db,
    tenant_id: &str,
    e: &Entity,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbError> {
    upsert_many(db, tenant_id, std::slice::from_ref(e), now).await
}

/// [`upsert`] of several entities in one transaction (a mirror refresh).
pub async fn upsert_many(
    db: &Db,
    tenant_id: &str,
    es: &[Entity],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbError> {
    if es.is_empty() {
        return Ok(());
    }
    let now = millis(now);
    let mut tx = db.pool().begin().await?;
    let first = super::paging::reserve(&mut tx, tenant_id, "entities", es.len() as i64).await?;
    for (e, seq) in es.iter().zip(first..) {
        sqlx::query(
            "INSERT INTO entities (tenant_id, account_id, kind, id, parent_id, dry_run, deleted, data, seq, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (tenant_id, kind, id) DO UPDATE SET parent_id = excluded.parent_id,
                dry_run = excluded.dry_run, deleted = excluded.deleted, data = excluded.data,
                updated_at = excluded.updated_at,
                seq = CASE WHEN entities.deleted <> 0 AND excluded.deleted = 0
                           THEN excluded.seq ELSE entities.seq END",
        )
        .bind(tenant_id)
        .bind(&e.account_id)
        .bind(e.kind.as_str())
        .bind(&e.id)
        .bind(&e.parent_id)
        .bind(i16::from(e.dry_run))
        .bind(i16::from(e.deleted))
        .bind(e.data.to_string())
        .bind(seq)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn from_row(kind: Kind, r: &sqlx::any::AnyRow) -> Result<Entity, DbError> {
    Ok(Entity {
        kind,
        account_id: r.get(0),
        id: r.get(1),
        parent_id: r.get(2),
        dry_run: r.get::<i16, _>(3) != 0,
        deleted: r.get::<i16, _>(4) != 0,
        data: serde_json::from_str(&r.get::<String, _>(5))
            .map_err(|_| DbError::Corrupt("entity data is not JSON"))?,
    })
}

/// One entity of the tenant in the account (deleted ones too).
pub async fn get(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    kind: Kind,
    id: &str,
) -> Result<Option<Entity>, DbError> {
    let row = sqlx::query(
        "SELECT account_id, id, parent_id, dry_run, deleted, data FROM entities
         WHERE tenant_id = $1 AND account_id = $2 AND kind = $3 AND id = $4",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(kind.as_str())
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| from_row(kind, &r)).transpose()
}

/// A page of the account's entities of a kind, oldest first, not deleted, optionally under a
/// parent, as their stored JSON text (no parsing). `after` is the last position of the previous
/// page (0 for the first); the second value is this page's last position when more follow.
/// `None` when the tenant has no such ad account (unknown, another tenant's, or no longer at X):
/// the account check is folded into the page's one query (a LEFT JOIN from `ad_accounts`), so a
/// list costs one round trip.
pub async fn list_raw(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    kind: Kind,
    parent_id: Option<&str>,
    after: i64,
    count: i64,
) -> Result<Option<(Vec<String>, Option<i64>)>, DbError> {
    let rows = sqlx::query(
        "SELECT e.data, e.seq FROM ad_accounts a
         LEFT JOIN entities e ON e.tenant_id = a.tenant_id AND e.account_id = a.id
           AND e.kind = $3 AND e.deleted = 0 AND ($4 = '' OR e.parent_id = $4) AND e.seq > $5
         WHERE a.tenant_id = $1 AND a.id = $2 AND a.deleted = 0
         ORDER BY e.seq LIMIT $6",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(kind.as_str())
    .bind(parent_id.unwrap_or(""))
    .bind(after)
    .bind(count + 1)
    .fetch_all(db.pool())
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    // The account with no entity on this page: the LEFT JOIN's one row of NULLs.
    let mut found: Vec<(String, i64)> = rows
        .iter()
        .filter_map(|r| Some((r.get::<Option<String>, _>(0)?, r.get::<i64, _>(1))))
        .collect();
    let more = found.len() as i64 > count;
    found.truncate(count as usize);
    let next = if more {
        found.last().map(|(_, seq)| *seq)
    } else {
        None
    };
    Ok(Some((
        found.into_iter().map(|(data, _)| data).collect(),
        next,
    )))
}

/// Marks mirrored (non-dry-run) entities of the kind in the account that X no longer listed as
/// deleted; `seen` are the ids X returned.
pub async fn mark_missing_deleted(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    kind: Kind,
    seen: &[String],
) -> Result<(), DbError> {
    let rows = sqlx::query(
        "SELECT id FROM entities WHERE tenant_id = $1 AND account_id = $2 AND kind = $3
           AND dry_run = 0 AND deleted = 0",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(kind.as_str())
    .fetch_all(db.pool())
    .await?;
    for r in rows {
        let id: String = r.get(0);
        if !seen.contains(&id) {
            sqlx::query(
                "UPDATE entities SET deleted = 1 WHERE tenant_id = $1 AND kind = $2 AND id = $3",
            )
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(&id)
            .execute(db.pool())
            .await?;
        }
    }
    Ok(())
}

/// X's ids of the account's mirrored entities of a kind (deleted ones too: their history is
/// still X's; dry-run ones never reached X), sorted.
pub async fn x_ids(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    kind: Kind,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM entities WHERE tenant_id = $1 AND account_id = $2 AND kind = $3
           AND dry_run = 0 ORDER BY id",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(kind.as_str())
    .fetch_all(db.pool())
    .await?)
}

/// What a report calls one mirrored entity, and its parent's id (a line item's campaign, a
/// promoted tweet's line item).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// A campaign's or line item's name; a promoted tweet, which has none, as `Tweet <tweet id>`.
    pub name: String,
    /// The parent's id, when the mirror knows it.
    pub parent_id: Option<String>,
}

/// The labels of the account's mirrored entities of `kind`, by id: deleted and dry-run ones
/// too, since their stored history is still reported.
pub async fn labels(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    kind: Kind,
) -> Result<std::collections::HashMap<String, Label>, DbError> {
    let rows = sqlx::query(
        "SELECT id, parent_id, data FROM entities WHERE tenant_id = $1 AND account_id = $2
           AND kind = $3",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(kind.as_str())
    .fetch_all(db.pool())
    .await?;
    let mut out = std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        let data: Value = serde_json::from_str(&r.get::<String, _>(2)).unwrap_or_default();
        let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_owned);
        let name = match kind {
            Kind::PromotedTweet => text("tweet_id").map(|t| format!("Tweet {t}")),
            Kind::Campaign | Kind::LineItem => text("name"),
        };
        if let Some(name) = name {
            out.insert(
                r.get::<String, _>(0),
                Label {
                    name,
                    parent_id: r.get(1),
                },
            );
        }
    }
    Ok(out)
}
