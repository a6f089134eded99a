//! The local mirror of X entities (and dry-run entities), in the shape our API shows them.

use serde_json::Value;
use sqlx::Row;
use xads_client::vocab::StatsEntityType;

use std::sync::Arc;

use super::millis;
use crate::cache::{SharedReads, Versioned};
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
    bump_mirror(&mut tx, tenant_id).await?;
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

/// Moves the tenant's mirror version (`mirror_versions`): call it in the transaction of every
/// write to the tenant's `entities` or `ad_accounts` rows, so a [`PageCache`] entry read before
/// the write stops answering once it commits, on every instance. Call it before the
/// transaction's writes to those rows: the version row is then the first lock every mirror
/// write of the tenant takes, so two of them cannot lock rows in orders that deadlock.
pub(crate) async fn bump_mirror(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO mirror_versions (tenant_id, version) VALUES ($1, 1)
         ON CONFLICT (tenant_id) DO UPDATE SET version = mirror_versions.version + 1",
    )
    .bind(tenant_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The tenant's mirror version (0 before its first write): read it before a page, and the page
/// is at least that new.
pub async fn mirror_version(db: &Db, tenant_id: &str) -> Result<i64, DbError> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT version FROM mirror_versions WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(db.pool())
            .await?
            .unwrap_or(0),
    )
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

/// A page of the mirror as stored: the documents' JSON text joined by commas (the inside of
/// the JSON array a list answers, in position order) and the page's last position
/// when more follow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawPage {
    /// The stored documents, oldest position first, joined by `,` (empty for an empty page):
    /// UTF-8 JSON text, as bytes a response can share without copying them.
    pub joined: bytes::Bytes,
    /// This page's last position, when rows follow it.
    pub next: Option<i64>,
}

/// A page of the account's entities of a kind, oldest first, not deleted, optionally under a
/// parent, as their stored JSON text (no parsing). `after` is the last position of the previous
/// page (0 for the first). `None` when the tenant has no such ad account (unknown, another
/// tenant's, or no longer at X).
///
/// One round trip answering one row: the account check is the outer query, the page is joined
/// by the database (`string_agg … ORDER BY seq`, PostgreSQL and SQLite ≥ 3.44) and whether
/// more follow is an `EXISTS` after the page's last position, all in one statement (one
/// snapshot). A page of n rows used to come back as n + 1 rows: on SQLite each row was a
/// hand-off between the connection's thread and the runtime, on both backends a row conversion
/// through `Any` — most of a list's cost (BENCHMARKS.md, 2026-12-06 evening).
pub async fn list_raw(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    kind: Kind,
    parent_id: Option<&str>,
    after: i64,
    count: i64,
) -> Result<Option<RawPage>, DbError> {
    // Two texts (with and without a parent), and the page size as a literal: SQLite re-prepares
    // a statement whenever a parameter it planned with is bound again — `LIMIT $n` and
    // `$n = ''` are such parameters — which cost a quarter of the page's time.
    let count = count.clamp(0, 100_000);
    let under = if parent_id.is_some() {
        "AND parent_id = $5"
    } else {
        ""
    };
    let sql = format!(
        "SELECT p.joined, p.last_seq,
                CAST(CASE WHEN EXISTS (
                    SELECT 1 FROM entities
                    WHERE tenant_id = $1 AND account_id = $2 AND kind = $3 AND deleted = 0
                      {under} AND seq > p.last_seq
                ) THEN 1 ELSE 0 END AS BIGINT)
         FROM ad_accounts a
         CROSS JOIN (
             SELECT string_agg(e.data, ',' ORDER BY e.seq) AS joined,
                    MAX(e.seq) AS last_seq
             FROM (SELECT data, seq FROM entities
                   WHERE tenant_id = $1 AND account_id = $2 AND kind = $3 AND deleted = 0
                     {under} AND seq > $4
                   ORDER BY seq LIMIT {count}) e
         ) p
         WHERE a.tenant_id = $1 AND a.id = $2 AND a.deleted = 0"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(account_id)
        .bind(kind.as_str())
        .bind(after);
    if let Some(parent) = parent_id {
        query = query.bind(parent);
    }
    let row = query.fetch_optional(db.pool()).await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let more: i64 = r.get(2);
    Ok(Some(RawPage {
        joined: r.get::<Option<String>, _>(0).unwrap_or_default().into(),
        next: if more == 1 {
            r.get::<Option<i64>, _>(1)
        } else {
            None
        },
    }))
}

/// The mirror's list pages this instance read recently, each under the tenant's mirror version
/// read before it ([`mirror_version`]; `cache::Versioned`): a page is answered from here only
/// while no instance has written the tenant's entities or ad accounts since, so a repeated list
/// costs one indexed lookup instead of the page's query, and concurrent requests of a tenant
/// share that lookup (`cache::SharedReads`: never one that began before the request). Cheap to
/// clone (a handle).
#[derive(Clone, Debug)]
pub struct PageCache {
    pages: Versioned<PageKey, Option<RawPage>>,
    versions: SharedReads<String, i64>,
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache {
            pages: Versioned::new(PAGES_MAX),
            versions: SharedReads::new(TENANTS_MAX),
        }
    }
}

/// Most tenants whose version reads are shared at once.
const TENANTS_MAX: usize = 10_000;

/// Most pages remembered; past this the cache starts over.
const PAGES_MAX: usize = 512;
/// Largest page remembered, in bytes of stored JSON (100 campaigns are ~40 kB): with
/// [`PAGES_MAX`], the cache holds at most 64 MiB.
const PAGE_MAX_BYTES: usize = 128 * 1024;

/// What a page depends on besides the mirror's rows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PageKey {
    tenant_id: String,
    account_id: String,
    kind: Kind,
    parent_id: Option<String>,
    after: i64,
    count: i64,
}

/// Which page of the mirror a list asks for: [`list_raw`]'s arguments.
#[derive(Clone, Copy, Debug)]
pub struct PageOf<'a> {
    /// The tenant.
    pub tenant_id: &'a str,
    /// Its ad account.
    pub account_id: &'a str,
    /// The kind listed.
    pub kind: Kind,
    /// Only the children of this parent, when given.
    pub parent_id: Option<&'a str>,
    /// The previous page's last position (0 for the first page).
    pub after: i64,
    /// The page size.
    pub count: i64,
}

/// [`list_raw`] through `cache`: the tenant's mirror version first (one indexed lookup, shared
/// with the tenant's requests that arrived before it began), then the page from the cache when
/// it was read at that version or later, else from the database.
pub async fn list_cached(
    db: &Db,
    cache: &PageCache,
    q: PageOf<'_>,
) -> Result<Arc<Option<RawPage>>, DbError> {
    let tenant = q.tenant_id.to_owned();
    let version = cache
        .versions
        .read(&tenant, || mirror_version(db, q.tenant_id))
        .await?;
    let key = PageKey {
        tenant_id: tenant,
        account_id: q.account_id.to_owned(),
        kind: q.kind,
        parent_id: q.parent_id.map(str::to_owned),
        after: q.after,
        count: q.count,
    };
    let read = async {
        let page = list_raw(
            db,
            q.tenant_id,
            q.account_id,
            q.kind,
            q.parent_id,
            q.after,
            q.count,
        )
        .await?;
        // An unknown account is not kept: its answer is the cheap one.
        let keep = page
            .as_ref()
            .is_some_and(|p| p.joined.len() <= PAGE_MAX_BYTES);
        Ok((page, keep))
    };
    cache.pages.get_or_read(key, vec![version], read).await
}

/// Marks mirrored (non-dry-run) entities of the kind in the account that X no longer listed as
/// deleted; `seen` are the ids X returned. The marks are one transaction, which moves the
/// mirror's version first (it begins with a write: a SQLite transaction that read first could
/// not take the writer's lock once another writer committed).
pub async fn mark_missing_deleted(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    kind: Kind,
    seen: &[String],
) -> Result<(), DbError> {
    let listed: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM entities WHERE tenant_id = $1 AND account_id = $2 AND kind = $3
           AND dry_run = 0 AND deleted = 0",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(kind.as_str())
    .fetch_all(db.pool())
    .await?;
    let seen: std::collections::HashSet<&str> = seen.iter().map(String::as_str).collect();
    let gone: Vec<String> = listed
        .into_iter()
        .filter(|id| !seen.contains(id.as_str()))
        .collect();
    if gone.is_empty() {
        return Ok(());
    }
    let mut tx = db.pool().begin().await?;
    bump_mirror(&mut tx, tenant_id).await?;
    for ids in gone.chunks(500) {
        let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "UPDATE entities SET deleted = 1 WHERE tenant_id = $1 AND kind = $2 AND id IN ({})",
            list.join(", ")
        );
        let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(kind.as_str());
        for id in ids {
            update = update.bind(id);
        }
        update.execute(&mut *tx).await?;
    }
    tx.commit().await?;
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

/// The levels stats are reported at (`entity=` of a stats read, the Reports page's levels) and
/// backfilled at: the sync stores campaigns (and line items for experiments), the backfill all
/// three.
pub const REPORTED: [StatsEntityType; 3] = [
    StatsEntityType::Campaign,
    StatsEntityType::LineItem,
    StatsEntityType::PromotedTweet,
];

/// The mirror's kind of a reported level.
pub fn kind_of(entity: StatsEntityType) -> Kind {
    match entity {
        StatsEntityType::LineItem => Kind::LineItem,
        StatsEntityType::PromotedTweet => Kind::PromotedTweet,
        _ => Kind::Campaign,
    }
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
