//! The media library mirror, the per-file upload records (content hash → media key) that make a
//! retried upload return the existing entry, and when each account's library was last read.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::Row;

use super::millis;
use crate::db::{Db, DbError};

/// One mirrored media library entry.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaRow {
    /// The ad account.
    pub account_id: String,
    /// X's media key, or `dry_…`.
    pub media_key: String,
    /// Made in dry-run: X has never seen it.
    pub dry_run: bool,
    /// Gone at X (kept for history).
    pub deleted: bool,
    /// SHA-256 of the file, when it was uploaded through us.
    pub sha256: Option<String>,
    /// The API representation.
    pub data: Value,
}

/// Inserts or replaces a mirrored entry (keeping a known hash, and its paging position unless
/// it comes back from deleted: `store::paging`).
pub async fn upsert(
    db: &Db,
    tenant_id: &str,
    m: &MediaRow,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    let seq = super::paging::reserve(&mut tx, tenant_id, "media", 1).await?;
    sqlx::query(
        "INSERT INTO media (tenant_id, account_id, media_key, dry_run, deleted, sha256, data, seq, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, account_id, media_key) DO UPDATE SET dry_run = excluded.dry_run,
            deleted = excluded.deleted, sha256 = COALESCE(excluded.sha256, media.sha256),
            data = excluded.data, updated_at = excluded.updated_at,
            seq = CASE WHEN media.deleted <> 0 AND excluded.deleted = 0
                       THEN excluded.seq ELSE media.seq END",
    )
    .bind(tenant_id)
    .bind(&m.account_id)
    .bind(&m.media_key)
    .bind(i16::from(m.dry_run))
    .bind(i16::from(m.deleted))
    .bind(&m.sha256)
    .bind(m.data.to_string())
    .bind(seq)
    .bind(millis(now))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<MediaRow, DbError> {
    Ok(MediaRow {
        account_id: r.get(0),
        media_key: r.get(1),
        dry_run: r.get::<i16, _>(2) != 0,
        deleted: r.get::<i16, _>(3) != 0,
        sha256: r.get(4),
        data: serde_json::from_str(&r.get::<String, _>(5))
            .map_err(|_| DbError::Corrupt("media data is not JSON"))?,
    })
}

/// One entry of the tenant's account (deleted ones too).
pub async fn get(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    media_key: &str,
) -> Result<Option<MediaRow>, DbError> {
    let row = sqlx::query(
        "SELECT account_id, media_key, dry_run, deleted, sha256, data FROM media
         WHERE tenant_id = $1 AND account_id = $2 AND media_key = $3",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(media_key)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| from_row(&r)).transpose()
}

/// A page of the account's entries, oldest first, not deleted. `after` is the previous page's
/// `seq` cursor; the second value is the next cursor.
pub async fn list(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    after: i64,
    count: i64,
) -> Result<(Vec<MediaRow>, Option<i64>), DbError> {
    let rows = sqlx::query(
        "SELECT account_id, media_key, dry_run, deleted, sha256, data, seq FROM media
         WHERE tenant_id = $1 AND account_id = $2 AND deleted = 0 AND seq > $3
         ORDER BY seq LIMIT $4",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(after)
    .bind(count + 1)
    .fetch_all(db.pool())
    .await?;
    let more = rows.len() as i64 > count;
    let mut out = Vec::with_capacity(rows.len());
    let mut last = None;
    for r in rows.iter().take(count as usize) {
        out.push(from_row(r)?);
        last = Some(r.get::<i64, _>(6));
    }
    Ok((out, if more { last } else { None }))
}

/// Marks mirrored (non-dry-run) entries X no longer lists as deleted; `seen` are X's keys.
pub async fn mark_missing_deleted(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    seen: &[String],
) -> Result<(), DbError> {
    let rows = sqlx::query(
        "SELECT media_key FROM media WHERE tenant_id = $1 AND account_id = $2
           AND dry_run = 0 AND deleted = 0",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    for r in rows {
        let key: String = r.get(0);
        if !seen.contains(&key) {
            sqlx::query(
                "UPDATE media SET deleted = 1 WHERE tenant_id = $1 AND account_id = $2 AND media_key = $3",
            )
            .bind(tenant_id)
            .bind(account_id)
            .bind(&key)
            .execute(db.pool())
            .await?;
        }
    }
    Ok(())
}

/// When the account's library was last read from X completely, if ever.
pub async fn refreshed_at(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT refreshed_at FROM media_mirror WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(db.pool())
    .await?)
}

/// Records a complete read of the account's library.
pub async fn set_refreshed(
    db: &Db,
    tenant_id: &str,
    account_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO media_mirror (tenant_id, account_id, refreshed_at) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, account_id) DO UPDATE SET refreshed_at = excluded.refreshed_at",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(millis(now))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Where the upload of one file to one account stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadState {
    /// Sending to X (or about to).
    Uploading,
    /// X has the media (`media_key` known); the library entry is not confirmed yet.
    Uploaded,
    /// In the library: `media_key` is the entry.
    Done,
    /// X refused it; a new request starts over.
    Failed,
}

impl UploadState {
    fn as_str(self) -> &'static str {
        match self {
            UploadState::Uploading => "uploading",
            UploadState::Uploaded => "uploaded",
            UploadState::Done => "done",
            UploadState::Failed => "failed",
        }
    }
    fn parse(s: &str) -> UploadState {
        match s {
            "uploading" => UploadState::Uploading,
            "uploaded" => UploadState::Uploaded,
            "done" => UploadState::Done,
            _ => UploadState::Failed,
        }
    }
}

/// Which upload record: one per (tenant, account, file hash, mode).
#[derive(Clone, Debug)]
pub struct UploadKey {
    /// The tenant.
    pub tenant_id: String,
    /// The ad account.
    pub account_id: String,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    /// Dry-run or live (a dry-run entry is never returned for a live upload).
    pub dry_run: bool,
}

/// An upload record as stored.
#[derive(Clone, Debug)]
pub struct Upload {
    /// Where it stands.
    pub state: UploadState,
    /// X's upload id, once initialized.
    pub media_id: Option<String>,
    /// X's media key (or `dry_…`), once known.
    pub media_key: Option<String>,
}

/// What claiming an upload record found.
#[derive(Debug)]
pub enum UploadClaim {
    /// The caller owns the upload now (fresh, or taken over after a lapsed lease or a failure).
    Execute(Upload),
    /// Finished before: this media key is the entry.
    Done(String),
    /// Another request is uploading the same file to the same account right now.
    InFlight,
}

async fn load(db: &Db, k: &UploadKey) -> Result<Option<(Upload, i64)>, DbError> {
    let row = sqlx::query(
        "SELECT state, media_id, media_key, lease_until FROM media_uploads
         WHERE tenant_id = $1 AND account_id = $2 AND sha256 = $3 AND dry_run = $4",
    )
    .bind(&k.tenant_id)
    .bind(&k.account_id)
    .bind(&k.sha256)
    .bind(i16::from(k.dry_run))
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| {
        (
            Upload {
                state: UploadState::parse(&r.get::<String, _>(0)),
                media_id: r.get(1),
                media_key: r.get(2),
            },
            r.get::<i64, _>(3),
        )
    }))
}

/// Claims the upload of a file for `lease`. A finished upload answers `Done`; one held by a live
/// lease `InFlight`; otherwise the caller executes (resuming from what was recorded).
pub async fn claim(
    db: &Db,
    k: &UploadKey,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<UploadClaim, DbError> {
    let inserted = sqlx::query(
        "INSERT INTO media_uploads (tenant_id, account_id, sha256, dry_run, state, lease_until, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'uploading', $5, $6, $6)
         ON CONFLICT (tenant_id, account_id, sha256, dry_run) DO NOTHING",
    )
    .bind(&k.tenant_id)
    .bind(&k.account_id)
    .bind(&k.sha256)
    .bind(i16::from(k.dry_run))
    .bind(millis(now + lease))
    .bind(millis(now))
    .execute(db.pool())
    .await?
    .rows_affected();
    let Some((upload, lease_until)) = load(db, k).await? else {
        return Err(DbError::Corrupt("media upload record vanished"));
    };
    if inserted == 1 {
        return Ok(UploadClaim::Execute(upload));
    }
    match upload.state {
        UploadState::Done => {
            if let Some(key) = upload.media_key {
                return Ok(UploadClaim::Done(key));
            }
        }
        UploadState::Uploading | UploadState::Uploaded if lease_until >= millis(now) => {
            return Ok(UploadClaim::InFlight);
        }
        _ => {}
    }
    // Take it over only if nobody else did in between (the lease value is the version).
    let taken = sqlx::query(
        "UPDATE media_uploads SET lease_until = $1, updated_at = $2,
            state = CASE WHEN state = 'uploaded' THEN 'uploaded' ELSE 'uploading' END
         WHERE tenant_id = $3 AND account_id = $4 AND sha256 = $5 AND dry_run = $6 AND lease_until = $7",
    )
    .bind(millis(now + lease))
    .bind(millis(now))
    .bind(&k.tenant_id)
    .bind(&k.account_id)
    .bind(&k.sha256)
    .bind(i16::from(k.dry_run))
    .bind(lease_until)
    .execute(db.pool())
    .await?
    .rows_affected();
    if taken != 1 {
        return Ok(UploadClaim::InFlight);
    }
    let mut upload = upload;
    if upload.state != UploadState::Uploaded {
        // A failed or abandoned upload starts over with a fresh upload session at X.
        upload = Upload {
            state: UploadState::Uploading,
            media_id: None,
            media_key: None,
        };
    }
    Ok(UploadClaim::Execute(upload))
}

/// Moves the record to `state`, recording X's ids or the error, and extends the lease.
pub async fn set(
    db: &Db,
    k: &UploadKey,
    upload: &Upload,
    error: Option<&str>,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE media_uploads SET state = $1, media_id = $2, media_key = $3, error = $4,
            lease_until = $5, updated_at = $6
         WHERE tenant_id = $7 AND account_id = $8 AND sha256 = $9 AND dry_run = $10",
    )
    .bind(upload.state.as_str())
    .bind(&upload.media_id)
    .bind(&upload.media_key)
    .bind(error)
    .bind(millis(now + lease))
    .bind(millis(now))
    .bind(&k.tenant_id)
    .bind(&k.account_id)
    .bind(&k.sha256)
    .bind(i16::from(k.dry_run))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Extends the lease of an upload in progress (called after every chunk).
pub async fn renew(
    db: &Db,
    k: &UploadKey,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE media_uploads SET lease_until = $1, updated_at = $2
         WHERE tenant_id = $3 AND account_id = $4 AND sha256 = $5 AND dry_run = $6",
    )
    .bind(millis(now + lease))
    .bind(millis(now))
    .bind(&k.tenant_id)
    .bind(&k.account_id)
    .bind(&k.sha256)
    .bind(i16::from(k.dry_run))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Lets another request take the upload over at once (this one failed in a way a retry may fix).
pub async fn release(db: &Db, k: &UploadKey, now: DateTime<Utc>) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE media_uploads SET lease_until = $1, updated_at = $1
         WHERE tenant_id = $2 AND account_id = $3 AND sha256 = $4 AND dry_run = $5",
    )
    .bind(millis(now) - 1)
    .bind(&k.tenant_id)
    .bind(&k.account_id)
    .bind(&k.sha256)
    .bind(i16::from(k.dry_run))
    .execute(db.pool())
    .await?;
    Ok(())
}
