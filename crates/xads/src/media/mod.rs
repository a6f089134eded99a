//! The media library (PRODUCT.md §4.3, §5; issue #6): upload images and videos into an ad
//! account's media library, and list it from a local mirror.
//!
//! An upload is validated completely before anything is sent ([`sniff`], [`spool`]): format from
//! magic bytes against the declared type, X's size limit while streaming, a structural check
//! against empty and truncated files. Then, in live mode:
//!
//! 1. claim the upload record of (tenant, account, file hash): a finished one answers the existing
//!    entry (a retried request never makes a second library entry), one in progress answers 409;
//! 2. X API v2 chunked upload — `initialize`, `append` in [`CHUNK`]-sized segments read from the
//!    spool file (the client retries a failed segment), `finalize`, then `STATUS` polls while
//!    `processing_info` is pending or in progress, waiting `check_after_secs` each time;
//! 3. `POST /12/accounts/{id}/media_library?media_key=…` through the exactly-once protocol
//!    (intent derived from the media key, so a lost answer is reconciled, not repeated);
//! 4. mirror, audit, mark the record done.
//!
//! In dry-run the file is validated the same way and stored locally with a `dry_` media key.

pub mod preview;
pub mod sniff;
pub mod spool;

use std::time::Duration as StdDuration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use xads_client::media::{MediaInit, ProcessingState};
use xads_client::models::{MediaLibraryCreate, MediaLibraryEntry};
use xads_client::{CallOptions, ListParams, XAds, XError, XResponse};

use crate::manage::exactly_once;
use crate::manage::input::Invalid;
use crate::manage::{ManageError, Scope};
use crate::store::audit::{self, AuditEntry};
use crate::store::media::{self as store, MediaRow, Upload, UploadClaim, UploadKey, UploadState};
use crate::x::{XSession, XSessionError};
use sniff::Format;
use spool::Spooled;

/// Segment size of the chunked upload: under X's 5 MB per-append limit whichever "MB" X means.
pub const CHUNK: usize = 4 * 1024 * 1024;
/// How long an upload record stays claimed without progress (renewed after every segment).
const LEASE: Duration = Duration::minutes(2);
/// Longest total wait for X's processing before giving up (the upload can be retried).
const PROCESSING_DEADLINE: StdDuration = StdDuration::from_secs(20 * 60);
/// Longest single wait between STATUS polls, whatever `check_after_secs` says.
const MAX_POLL_WAIT_SECS: u64 = 60;
/// X's page size limit for the media library.
const X_PAGE: u32 = xads_client::MEDIA_LIBRARY_MAX_COUNT;

/// A validated upload: the spooled file and the form's text fields.
#[derive(Debug)]
pub struct NewMedia {
    /// The file on disk.
    pub file: Spooled,
    /// The part's file name (base name only), sent as X's `file_name`.
    pub file_name: Option<String>,
    /// X's `name` (≤ 100).
    pub name: Option<String>,
    /// `title` (≤ 70): kept in our library for every type; X takes it for videos only.
    pub title: Option<String>,
    /// `description` (≤ 200): kept in our library for every type; X takes it for videos only.
    pub description: Option<String>,
}

/// The value of a video-only field to send to X: the field for a video, nothing otherwise.
pub fn for_x(format: Format, value: &Option<String>) -> Option<String> {
    if format.is_video() {
        value.clone()
    } else {
        None
    }
}

/// Our library keeps the title and description given at upload where X holds none (X keeps
/// them for videos only).
fn keep_dashboard_fields(
    entry: &mut MediaLibraryEntry,
    title: &Option<String>,
    description: &Option<String>,
) {
    if entry.title.is_none() {
        entry.title.clone_from(title);
    }
    if entry.description.is_none() {
        entry.description.clone_from(description);
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Checks the text fields against X's limits (the file itself is checked while spooling).
/// `title` and `description` are taken for every type: the dashboard's library keeps them, and
/// only a video's are sent to X (which takes them for videos alone; see [`for_x`]).
pub fn check_fields(
    _format: Format,
    name: Option<&str>,
    title: Option<&str>,
    description: Option<&str>,
) -> Result<(), Invalid> {
    for (field, value, max) in [("name", name, 100), ("title", title, 70)]
        .into_iter()
        .chain([("description", description, 200)])
    {
        if let Some(v) = value
            && v.chars().count() > max
        {
            return Err(invalid(field, format!("at most {max} characters")));
        }
    }
    Ok(())
}

/// The base name of an uploaded file name (no directories), at most 255 characters.
pub fn clean_file_name(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    (!base.is_empty()).then(|| base.chars().take(255).collect())
}

impl NewMedia {
    /// What identifies this request for inbound idempotency: the content and every field.
    pub fn fingerprint(&self) -> String {
        json!({
            "sha256": self.file.sha256,
            "file_name": self.file_name,
            "name": self.name,
            "title": self.title,
            "description": self.description,
        })
        .to_string()
    }
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

/// A media library entry as the API shows it (X's field names, `id` = the media key).
pub fn render(account_id: &str, e: &MediaLibraryEntry, dry_run: bool) -> Value {
    json!({
        "id": e.media_key,
        "media_key": e.media_key,
        "account_id": account_id,
        "media_url": e.media_url,
        "media_category": e.media_category,
        "media_type": e.media_type,
        "media_status": e.media_status,
        "name": e.name,
        "file_name": e.file_name,
        "title": e.title,
        "description": e.description,
        "duration": e.duration,
        "poster_media_key": e.poster_media_key,
        "poster_media_url": e.poster_media_url,
        "aspect_ratio": e.aspect_ratio,
        "tweeted": e.tweeted,
        "created_at": time(e.created_at),
        "updated_at": time(e.updated_at),
        "deleted": e.deleted,
        "dry_run": dry_run,
    })
}

fn media_type(format: Format) -> &'static str {
    match format {
        Format::Gif => "GIF",
        f if f.is_video() => "VIDEO",
        _ => "IMAGE",
    }
}

/// A failure reading our own spool file back: logged here, answered as an internal error.
fn spool_unreadable(e: std::io::Error) -> ManageError {
    tracing::error!(error = %e, "the spooled upload could not be read back");
    ManageError::Db(crate::db::DbError::Corrupt(
        "the spooled upload could not be read back",
    ))
}

/// A media library entry as the API shows it: our rendering ([`render`]) of X's object, kept
/// as JSON because the mirror stores and answers it as is (X's object passes through).
#[derive(Debug)]
pub struct MediaEntry(pub Value);

/// What an upload did.
#[derive(Debug)]
pub enum Uploaded {
    /// A new library entry (the web answers 201).
    Created(MediaEntry),
    /// This file was already in the account's library through us: that entry (answered 200).
    Existing(MediaEntry),
}

/// A page of the media library mirror.
#[derive(Debug)]
pub struct MediaPage {
    /// The entries, oldest first.
    pub entries: Vec<MediaEntry>,
    /// The cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

/// `POST …/media`: uploads a validated file (live) or stores it locally (dry-run). Answers 201
/// with the new entry, or 200 with the existing one when this file is already in the account's
/// library through us.
pub async fn create(scope: &Scope, media: &NewMedia) -> Result<Uploaded, ManageError> {
    scope.check_account().await?;
    check_fields(
        media.file.format,
        media.name.as_deref(),
        media.title.as_deref(),
        media.description.as_deref(),
    )?;
    let db = &scope.state.db;
    let key = UploadKey {
        tenant_id: scope.tenant.id.clone(),
        account_id: scope.account_id.clone(),
        sha256: media.file.sha256.clone(),
        dry_run: !scope.live(),
    };
    let mut claimed = None;
    for _ in 0..2 {
        let now = scope.state.clock.now();
        match store::claim(db, &key, now, LEASE).await? {
            UploadClaim::Execute(u) => {
                claimed = Some(u);
                break;
            }
            UploadClaim::InFlight => {
                return Err(ManageError::Conflict(
                    "this file is being uploaded to this ad account by another request; retry later"
                        .into(),
                ));
            }
            UploadClaim::Done(media_key) => {
                match store::get(db, &scope.tenant.id, &scope.account_id, &media_key).await? {
                    Some(row) if !row.deleted => {
                        tracing::info!(tenant.id = %scope.tenant.id, ad_account.id = %scope.account_id, media.key = %media_key, "same file uploaded before: answering the existing entry");
                        return Ok(Uploaded::Existing(MediaEntry(row.data)));
                    }
                    // The entry is gone at X: upload it again.
                    _ => {
                        let failed = Upload {
                            state: UploadState::Failed,
                            media_id: None,
                            media_key: None,
                        };
                        store::set(
                            db,
                            &key,
                            &failed,
                            Some("library entry deleted"),
                            now,
                            -LEASE,
                        )
                        .await?;
                    }
                }
            }
        }
    }
    let Some(claimed) = claimed else {
        return Err(ManageError::Conflict(
            "this file's upload record changed underneath; retry".into(),
        ));
    };
    let result = if key.dry_run {
        dry_run(scope, media, &key).await
    } else {
        live(scope, media, &key, claimed).await
    };
    if let Err(e) = &result {
        let now = scope.state.clock.now();
        match e {
            // X refused the media: final for this attempt; a new request starts over.
            ManageError::Invalid(i) => {
                let failed = Upload {
                    state: UploadState::Failed,
                    media_id: None,
                    media_key: None,
                };
                store::set(db, &key, &failed, Some(&i.message), now, -LEASE).await?;
            }
            // X unavailable or ambiguous: let a retry take over at once, resuming from the
            // recorded state.
            _ => store::release(db, &key, now).await?,
        }
    }
    result.map(Uploaded::Created)
}

async fn record(
    scope: &Scope,
    key: &UploadKey,
    entry: &MediaLibraryEntry,
    dry_run: bool,
    x_request_id: Option<&str>,
) -> Result<MediaEntry, ManageError> {
    let db = &scope.state.db;
    let now = scope.state.clock.now();
    let data = render(&scope.account_id, entry, dry_run);
    store::upsert(
        db,
        &scope.tenant.id,
        &MediaRow {
            account_id: scope.account_id.clone(),
            media_key: entry.media_key.clone(),
            dry_run,
            deleted: false,
            sha256: Some(key.sha256.clone()),
            data: data.clone(),
        },
        now,
    )
    .await?;
    audit::record(
        db,
        &AuditEntry {
            tenant_id: &scope.tenant.id,
            account_id: &scope.account_id,
            action: "create_media",
            entity_kind: "media",
            entity_id: &entry.media_key,
            dry_run,
            before: None,
            after: Some(&data),
            x_request_id,
            at: now,
        },
    )
    .await?;
    let done = Upload {
        state: UploadState::Done,
        media_id: None,
        media_key: Some(entry.media_key.clone()),
    };
    store::set(db, key, &done, None, scope.state.clock.now(), LEASE).await?;
    tracing::info!(
        tenant.id = %scope.tenant.id,
        ad_account.id = %scope.account_id,
        action = "create_media",
        media.key = %entry.media_key,
        mode = if dry_run { "dry_run" } else { "live" },
        "write recorded"
    );
    Ok(MediaEntry(data))
}

async fn dry_run(
    scope: &Scope,
    media: &NewMedia,
    key: &UploadKey,
) -> Result<MediaEntry, ManageError> {
    let now = scope.state.clock.now();
    let format = media.file.format;
    let entry: MediaLibraryEntry = serde_json::from_value(json!({
        "media_key": crate::manage::dry_id(),
        "media_category": format.category().to_ascii_uppercase(),
        "media_type": media_type(format),
        "name": media.name,
        "file_name": media.file_name,
        "title": media.title,
        "description": media.description,
        "created_at": now, "updated_at": now, "deleted": false,
    }))
    .expect("a dry-run media entry is a valid wire object");
    record(scope, key, &entry, true, None).await
}

/// Reads up to [`CHUNK`] bytes (less only at end of file).
async fn read_chunk(file: &mut tokio::fs::File) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(CHUNK);
    while buf.len() < CHUNK {
        if file.read_buf(&mut buf).await? == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

/// X's text for a failed processing (`processing_info.error.message`, else the whole object).
fn processing_error(error: Option<&Value>) -> String {
    match error {
        Some(e) => e
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| e.to_string()),
        None => "processing failed (X gave no reason)".into(),
    }
}

/// Sends the file to X (initialize, append…, finalize, STATUS polls); returns the media key.
async fn send_file(
    scope: &Scope,
    session: &XSession,
    media: &NewMedia,
    key: &UploadKey,
) -> Result<String, ManageError> {
    let db = &scope.state.db;
    let format = media.file.format;
    let init = MediaInit {
        media_type: format.mime().to_owned(),
        total_bytes: media.file.len,
        media_category: format.category().to_owned(),
        ..MediaInit::default()
    };
    // Upload calls carry an Idempotency-Key like every write to X (a label: X ignores it, and a
    // resent segment simply replaces itself).
    let label = exactly_once::intent_id(&scope.tenant.id, Some(&key.sha256), "media_upload");
    let init_key = format!("{label}-initialize");
    let started = session
        .call(|x| {
            let (init, k) = (init.clone(), init_key.clone());
            async move { x.media_initialize_keyed(&init, Some(&k)).await }
        })
        .await?
        .data;
    let media_id = started.id.clone();
    let mut upload = Upload {
        state: UploadState::Uploading,
        media_id: Some(media_id.clone()),
        media_key: started.media_key.clone(),
    };
    store::set(db, key, &upload, None, scope.state.clock.now(), LEASE).await?;

    let mut file = tokio::fs::File::open(media.file.path.path())
        .await
        .map_err(spool_unreadable)?;
    let mut segment = 0u32;
    loop {
        let chunk = read_chunk(&mut file).await.map_err(spool_unreadable)?;
        if chunk.is_empty() {
            break;
        }
        let append_key = format!("{label}-{media_id}-append-{segment}");
        session
            .call(|x| {
                let (id, chunk, k) = (media_id.clone(), chunk.clone(), append_key.clone());
                async move { x.media_append_keyed(&id, segment, chunk, Some(&k)).await }
            })
            .await?;
        segment += 1;
        store::renew(db, key, scope.state.clock.now(), LEASE).await?;
    }
    drop(file);

    let finalize_key = format!("{label}-{media_id}-finalize");
    let finished = session
        .call(|x| {
            let (id, k) = (media_id.clone(), finalize_key.clone());
            async move { x.media_finalize_keyed(&id, Some(&k)).await }
        })
        .await?
        .data;
    let media_key = finished
        .media_key
        .clone()
        .or(upload.media_key.clone())
        .ok_or_else(|| {
            ManageError::Session(XSessionError::X(XError::Decode {
                operation: "media_finalize",
                status: 200,
                message: "no media_key in X's answer".into(),
            }))
        })?;
    let mut info = finished.processing_info;
    let waiting = tokio::time::Instant::now();
    while let Some(pi) = info.as_ref().filter(|p| !p.is_final()) {
        if waiting.elapsed() > PROCESSING_DEADLINE {
            return Err(ManageError::Session(XSessionError::X(XError::Transport {
                operation: "media_status",
                ambiguous: false,
                timeout: true,
                message: format!(
                    "X was still processing the media after {} minutes; retry the upload later",
                    PROCESSING_DEADLINE.as_secs() / 60
                ),
            })));
        }
        let wait = pi
            .check_after_secs
            .unwrap_or(1)
            .clamp(1, MAX_POLL_WAIT_SECS);
        tokio::time::sleep(StdDuration::from_secs(wait)).await;
        store::renew(db, key, scope.state.clock.now(), LEASE).await?;
        info = session
            .call(|x| {
                let id = media_id.clone();
                async move { x.media_status(&id).await }
            })
            .await?
            .data
            .processing_info;
    }
    if let Some(pi) = info.filter(|p| p.state == ProcessingState::Failed) {
        return Err(invalid(
            "file",
            format!(
                "X could not process the media: {}",
                processing_error(pi.error.as_ref())
            ),
        )
        .into());
    }
    upload.state = UploadState::Uploaded;
    upload.media_key = Some(media_key.clone());
    store::set(db, key, &upload, None, scope.state.clock.now(), LEASE).await?;
    Ok(media_key)
}

async fn live(
    scope: &Scope,
    media: &NewMedia,
    key: &UploadKey,
    claimed: Upload,
) -> Result<MediaEntry, ManageError> {
    let session = scope.session().await?;
    let media_key = match (claimed.state, claimed.media_key) {
        // X already has this file from an earlier attempt: only the library entry is missing.
        (UploadState::Uploaded, Some(k)) => k,
        _ => send_file(scope, &session, media, key).await?,
    };
    let create = MediaLibraryCreate {
        media_key: media_key.clone(),
        name: media.name.clone(),
        file_name: media.file_name.clone(),
        title: for_x(media.file.format, &media.title),
        description: for_x(media.file.format, &media.description),
        poster_media_key: None,
    };
    let created = exactly_once::create(
        &scope.state,
        &session,
        // One intent per media key: every retry of this file's registration finds it.
        scope.write_request(
            exactly_once::intent_id(&scope.tenant.id, Some(&media_key), "media_library"),
            json!({
                "media_key": media_key, "name": create.name, "file_name": create.file_name,
                "title": create.title, "description": create.description,
            }),
        ),
        &LibraryEntryCreation {
            account: scope.account_id.clone(),
            create,
        },
    )
    .await?;
    let (mut entry, request_id) = (created.entity, created.request_id);
    keep_dashboard_fields(&mut entry, &media.title, &media.description);
    record(scope, key, &entry, false, request_id.as_deref()).await
}

/// A media library entry to create at X for an uploaded media key (the exactly-once protocol's
/// view of it).
pub(crate) struct LibraryEntryCreation {
    account: String,
    create: MediaLibraryCreate,
}

impl exactly_once::CreateAtX for LibraryEntryCreation {
    type Entity = MediaLibraryEntry;
    type Request = MediaLibraryCreate;
    const OPERATION: &'static str = "create_media_library_entry";

    fn new(account: String, create: MediaLibraryCreate) -> Self {
        LibraryEntryCreation { account, create }
    }

    fn request(&self) -> &MediaLibraryCreate {
        &self.create
    }

    async fn send(
        &self,
        x: XAds,
        opts: CallOptions,
    ) -> Result<XResponse<MediaLibraryEntry>, XError> {
        x.create_media_library_entry(&self.account, &self.create, &opts)
            .await
    }

    /// The entry of this media key, if X has one (a media key has at most one entry).
    async fn find(&self, x: XAds, _since: DateTime<Utc>) -> Result<Vec<MediaLibraryEntry>, XError> {
        match x
            .get_media_library_entry(&self.account, &self.create.media_key)
            .await
        {
            Ok(r) => Ok(vec![r.data]),
            Err(e) if e.status() == Some(404) => Ok(vec![]),
            Err(e) => Err(e),
        }
    }

    async fn fetch(&self, x: XAds, key: String) -> Result<MediaLibraryEntry, XError> {
        Ok(x.get_media_library_entry(&self.account, &key).await?.data)
    }

    fn id(e: &MediaLibraryEntry) -> &str {
        e.media_key.as_str()
    }
}

/// Reads the account's whole media library from X (following cursors, X's maximum page of 50)
/// into the mirror; mirrored entries X no longer lists are marked deleted.
pub async fn refresh(scope: &Scope, session: &XSession) -> Result<usize, ManageError> {
    let account = scope.account_id.clone();
    let entries = session
        .call(|x| {
            let account = account.clone();
            async move {
                x.list_all_media_library(&account, &ListParams::new().count(X_PAGE))
                    .await
            }
        })
        .await?;
    let db = &scope.state.db;
    for e in &entries {
        let mut e = e.clone();
        if e.title.is_none() || e.description.is_none() {
            // Ours where X keeps none (an image's title and description).
            if let Some(known) = store::get(db, &scope.tenant.id, &account, &e.media_key).await? {
                let field = |k: &str| known.data[k].as_str().map(str::to_owned);
                keep_dashboard_fields(&mut e, &field("title"), &field("description"));
            }
        }
        let e = &e;
        store::upsert(
            db,
            &scope.tenant.id,
            &MediaRow {
                account_id: account.clone(),
                media_key: e.media_key.clone(),
                dry_run: false,
                deleted: e.deleted,
                sha256: None,
                data: render(&account, e, false),
            },
            scope.state.clock.now(),
        )
        .await?;
    }
    let seen: Vec<String> = entries.iter().map(|e| e.media_key.clone()).collect();
    store::mark_missing_deleted(db, &scope.tenant.id, &account, &seen).await?;
    store::set_refreshed(db, &scope.tenant.id, &account, scope.state.clock.now()).await?;
    Ok(entries.len())
}

/// `GET …/media`: a page of the mirror, `{"data": […], "next_cursor": …}`. `refresh` reads
/// through to X first; the first list of an account also fills the mirror from X when connected.
pub async fn page(
    scope: &Scope,
    refresh_first: bool,
    cursor: Option<&str>,
    count: Option<u32>,
) -> Result<MediaPage, ManageError> {
    scope.check_account().await?;
    let after = crate::manage::paging::position(cursor)?;
    let count = crate::manage::paging::count(count)?;
    let db = &scope.state.db;
    if refresh_first {
        let session = scope.session().await?;
        refresh(scope, &session).await?;
    } else if store::refreshed_at(db, &scope.tenant.id, &scope.account_id)
        .await?
        .is_none()
    {
        // Best effort: without a connection (or with X down) the local entries still list.
        let filled = match scope.session().await {
            Ok(session) => refresh(scope, &session).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = filled {
            tracing::warn!(ad_account.id = %scope.account_id, error = %e, "media library not read from X; listing local entries");
        }
    }
    let (rows, next) = store::list(db, &scope.tenant.id, &scope.account_id, after, count).await?;
    Ok(MediaPage {
        entries: rows.into_iter().map(|r| MediaEntry(r.data)).collect(),
        next_cursor: next.map(crate::manage::paging::position_cursor),
    })
}

/// One entry of the account's library (not deleted), or 404.
pub async fn get(scope: &Scope, media_key: &str) -> Result<MediaEntry, ManageError> {
    scope.check_account().await?;
    store::get(
        &scope.state.db,
        &scope.tenant.id,
        &scope.account_id,
        media_key,
    )
    .await?
    .filter(|r| !r.deleted)
    .map(|r| MediaEntry(r.data))
    .ok_or(ManageError::NotFound("media"))
}

/// `DELETE …/media/{id}`: removes an entry from the account's library. A dry-run entry (or any
/// entry in dry-run mode) is handled locally and nothing is sent; otherwise X's
/// `DELETE /12/accounts/{id}/media_library/{media_key}` goes through the exactly-once record (a
/// 404 there — already gone, e.g. a retried delete — counts as done). Answers the entry with
/// `deleted: true`; the mirror keeps it (deleted) for history, the list no longer shows it, and
/// the same file uploaded again makes a new entry.
pub async fn delete(scope: &Scope, media_key: &str) -> Result<MediaEntry, ManageError> {
    scope.check_account().await?;
    let db = &scope.state.db;
    let current = store::get(db, &scope.tenant.id, &scope.account_id, media_key)
        .await?
        .filter(|r| !r.deleted)
        .ok_or(ManageError::NotFound("media"))?;
    let mut gone = current.clone();
    gone.deleted = true;
    gone.data["deleted"] = Value::Bool(true);
    if current.dry_run || !scope.live() {
        gone.data["dry_run"] = Value::Bool(true);
        if current.dry_run {
            record_delete(scope, &current, &gone, None).await?;
        }
        return Ok(MediaEntry(gone.data));
    }
    let session = scope.session().await?;
    let account = scope.account_id.clone();
    let key = current.media_key.clone();
    let result = exactly_once::tracked(
        &scope.state,
        &session,
        scope.write_request(
            scope.intent_id(&format!("delete_media:{key}")),
            json!({ "id": key, "kind": "media" }),
        ),
        "delete",
        &key,
        |x, opts| {
            let (account, key) = (account.clone(), key.clone());
            async move {
                let resp = x.delete_media_library_entry(&account, &key, &opts).await?;
                Ok(XResponse {
                    data: (),
                    next_cursor: None,
                    total_count: None,
                    request_params: Value::Null,
                    rate_limit: resp.rate_limit,
                    request_id: resp.request_id,
                })
            }
        },
    )
    .await;
    let request_id = match result {
        Ok(resp) => resp.request_id,
        Err(exactly_once::WriteError::Session(XSessionError::X(e))) if e.status() == Some(404) => {
            None
        }
        Err(e) => return Err(e.into()),
    };
    record_delete(scope, &current, &gone, request_id.as_deref()).await?;
    Ok(MediaEntry(gone.data))
}

/// Stores the entry as deleted in the mirror and appends the audit row.
async fn record_delete(
    scope: &Scope,
    before: &MediaRow,
    gone: &MediaRow,
    x_request_id: Option<&str>,
) -> Result<(), ManageError> {
    let db = &scope.state.db;
    let now = scope.state.clock.now();
    store::upsert(db, &scope.tenant.id, gone, now).await?;
    audit::record(
        db,
        &AuditEntry {
            tenant_id: &scope.tenant.id,
            account_id: &scope.account_id,
            action: "delete_media",
            entity_kind: "media",
            entity_id: &gone.media_key,
            dry_run: gone.dry_run,
            before: Some(&before.data),
            after: None,
            x_request_id,
            at: now,
        },
    )
    .await?;
    tracing::info!(
        tenant.id = %scope.tenant.id,
        ad_account.id = %scope.account_id,
        media.key = %gone.media_key,
        mode = if gone.dry_run { "dry_run" } else { "live" },
        "media library entry deleted"
    );
    Ok(())
}
