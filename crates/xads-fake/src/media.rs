//! X API v2 chunked media upload: initialize, append, finalize, STATUS polling.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::envelope::Params;
use crate::faults::FaultKind;
use crate::state::FakeState;

/// How long an upload session lives (seconds), as in X's examples.
pub const EXPIRES_AFTER_SECS: i64 = 86_400;

/// X's largest `append` segment (5 MB).
pub const MAX_SEGMENT_BYTES: u64 = 5 * 1024 * 1024;

/// Processing state of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Initialized, receiving segments.
    Receiving,
    /// Finalized; processing queued.
    Pending,
    /// Processing.
    InProgress,
    /// Done; the media key can be registered.
    Succeeded,
    /// Processing failed.
    Failed,
}

impl UploadState {
    fn name(self) -> &'static str {
        match self {
            UploadState::Receiving => "receiving",
            UploadState::Pending => "pending",
            UploadState::InProgress => "in_progress",
            UploadState::Succeeded => "succeeded",
            UploadState::Failed => "failed",
        }
    }
}

/// One upload session.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Decimal media id.
    pub id: String,
    /// `<prefix>_<id>`.
    pub media_key: String,
    /// Uploading user.
    pub user_id: String,
    /// MIME type.
    pub media_type: String,
    /// Lower-case category (`tweet_image`, `amplify_video`…).
    pub media_category: String,
    /// Announced size.
    pub total_bytes: u64,
    /// Received segment sizes by index.
    pub segments: BTreeMap<u32, u64>,
    /// State.
    pub state: UploadState,
    /// STATUS polls since finalize.
    pub polls: u32,
    /// Set when processing is made to fail.
    pub error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl Upload {
    fn is_video(&self) -> bool {
        self.media_category.ends_with("video")
    }

    /// `IMAGE`, `GIF` or `VIDEO` (media library's `media_type`).
    pub fn media_type_name(&self) -> &'static str {
        if self.is_video() {
            "VIDEO"
        } else if self.media_category.ends_with("gif") {
            "GIF"
        } else {
            "IMAGE"
        }
    }

    fn processing_info(&self) -> Value {
        let mut info = json!({ "state": self.state.name() });
        match self.state {
            UploadState::Pending => info["check_after_secs"] = json!(1),
            UploadState::InProgress => {
                info["check_after_secs"] = json!(1);
                info["progress_percent"] = json!(50);
            }
            UploadState::Succeeded => info["progress_percent"] = json!(100),
            UploadState::Failed => {
                info["progress_percent"] = json!(100);
                info["error"] = json!({
                    "code": 1,
                    "name": "InvalidMedia",
                    "message": self.error.clone().unwrap_or_else(|| "Unsupported video format".into()),
                });
            }
            UploadState::Receiving => {}
        }
        info
    }
}

/// X API v2 problem answer.
fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        Json(json!({
            "errors": [{ "message": detail }],
            "title": "Invalid Request",
            "detail": detail,
            "type": "https://api.x.com/2/problems/invalid-request",
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

fn not_found(id: &str) -> Response {
    problem(StatusCode::BAD_REQUEST, &format!("Media id {id} not found"))
}

fn size_limit(category: &str) -> u64 {
    match category {
        c if c.ends_with("gif") => 15 * 1024 * 1024,
        c if c.ends_with("video") => 512 * 1024 * 1024,
        _ => 5 * 1024 * 1024,
    }
}

const TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/bmp",
    "image/pjpeg",
    "image/tiff",
    "image/gif",
    "video/mp4",
    "video/quicktime",
    "video/webm",
];

/// Opens an upload session (shared by the v2 `initialize` route and the legacy `command=INIT`).
fn init_core(
    st: &FakeState,
    user_id: &str,
    media_type: Option<String>,
    total_bytes: Option<String>,
    category: Option<String>,
) -> Result<Upload, String> {
    let media_type = media_type.ok_or_else(|| "media_type is required".to_string())?;
    if !TYPES.contains(&media_type.as_str()) {
        return Err("media_type is not supported".to_string());
    }
    let total_bytes = total_bytes
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| "total_bytes must be a positive integer".to_string())?;
    let category =
        category
            .map(|c| c.to_ascii_lowercase())
            .unwrap_or_else(|| match media_type.as_str() {
                "image/gif" => "tweet_gif".into(),
                t if t.starts_with("video/") => "tweet_video".into(),
                _ => "tweet_image".into(),
            });
    let prefix = match category.as_str() {
        "tweet_image" | "dm_image" => "3",
        "tweet_gif" | "dm_gif" => "16",
        "amplify_video" => "13",
        "tweet_video" | "dm_video" => "7",
        _ => {
            return Err("media_category is not supported".to_string());
        }
    };
    if total_bytes == 0 || total_bytes > size_limit(&category) {
        return Err("total_bytes exceeds the limit for this media_category".to_string());
    }
    let mut s = st.lock();
    let id = s.ids.decimal();
    let now = s.clock.now();
    let upload = Upload {
        media_key: format!("{prefix}_{id}"),
        id,
        user_id: user_id.into(),
        media_type,
        media_category: category,
        total_bytes,
        segments: BTreeMap::new(),
        state: UploadState::Receiving,
        polls: 0,
        error: None,
        created_at: now,
    };
    s.uploads.push(upload.clone());
    Ok(upload)
}

fn init_answer(u: &Upload) -> Response {
    Json(json!({ "data": {
        "id": u.id,
        "media_key": u.media_key,
        "expires_after_secs": EXPIRES_AFTER_SECS,
    }}))
    .into_response()
}

fn append_core(
    st: &FakeState,
    user_id: &str,
    id: &str,
    segment: Option<u32>,
    len: Option<u64>,
) -> Response {
    let Some(segment) = segment.filter(|s| *s <= 999) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "segment_index must be between 0 and 999",
        );
    };
    let Some(len) = len else {
        return problem(StatusCode::BAD_REQUEST, "media is required");
    };
    let mut s = st.lock();
    let Some(u) = s
        .uploads
        .iter_mut()
        .find(|u| u.id == id && u.user_id == user_id)
    else {
        return not_found(id);
    };
    if u.state != UploadState::Receiving {
        return problem(StatusCode::BAD_REQUEST, "upload already finalized");
    }
    u.segments.insert(segment, len);
    let expires = u.created_at.timestamp() + EXPIRES_AFTER_SECS;
    Json(json!({ "data": { "expires_at": expires } })).into_response()
}

/// An explicit APPEND (v2 route or legacy command): X takes segments of at most 5 MB.
fn segment_append(
    st: &FakeState,
    user_id: &str,
    id: &str,
    segment: Option<u32>,
    len: Option<u64>,
) -> Response {
    if len.is_some_and(|l| l > MAX_SEGMENT_BYTES) {
        return problem(
            StatusCode::BAD_REQUEST,
            "a media segment may be at most 5 MB",
        );
    }
    append_core(st, user_id, id, segment, len)
}

fn finalize_core(st: &FakeState, user_id: &str, id: &str, fault: Option<FaultKind>) -> Response {
    let mut s = st.lock();
    let Some(u) = s
        .uploads
        .iter_mut()
        .find(|u| u.id == id && u.user_id == user_id)
    else {
        return not_found(id);
    };
    if u.state != UploadState::Receiving {
        return problem(StatusCode::BAD_REQUEST, "upload already finalized");
    }
    let received: u64 = u.segments.values().sum();
    if received != u.total_bytes {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!(
                "File size mismatch: received {received} bytes, expected {}",
                u.total_bytes
            ),
        );
    }
    if let Some(FaultKind::MediaProcessingFailed { message }) = fault {
        u.error = Some(message);
    }
    u.state = if u.is_video() {
        UploadState::Pending
    } else if u.error.is_some() {
        UploadState::Failed
    } else {
        UploadState::Succeeded
    };
    let mut data = json!({
        "id": u.id,
        "media_key": u.media_key,
        "size": u.total_bytes,
        "expires_after_secs": EXPIRES_AFTER_SECS,
    });
    if u.state != UploadState::Succeeded {
        data["processing_info"] = u.processing_info();
    }
    Json(json!({ "data": data })).into_response()
}

/// Multipart fields by name (the file parts `media`/`media_data` kept as bytes).
async fn fields(mut multipart: Multipart) -> Result<HashMap<String, Bytes>, String> {
    let mut out = HashMap::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| "malformed multipart body".to_string())?;
                out.insert(name, bytes);
            }
            Ok(None) => return Ok(out),
            Err(_) => return Err("malformed multipart body".to_string()),
        }
    }
}

fn text_field(f: &HashMap<String, Bytes>, p: &Params, name: &str) -> Option<String> {
    f.get(name)
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(|s| s.trim().to_string())
        .or_else(|| p.get(name).map(String::from))
}

fn media_len(f: &HashMap<String, Bytes>) -> Option<u64> {
    if let Some(b) = f.get("media") {
        return Some(b.len() as u64);
    }
    // `media_data` is base64 (legacy form).
    f.get("media_data").map(|b| {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b.as_ref())
            .map_or(b.len() as u64, |d| d.len() as u64)
    })
}

/// `POST /2/media/upload/initialize` (JSON `{media_type, total_bytes, media_category}`).
pub async fn initialize(
    State(st): State<FakeState>,
    Extension(who): Extension<Principal>,
    Extension(p): Extension<Params>,
    body: Bytes,
) -> Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let field = |k: &str| -> Option<String> {
        match json.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => p.get(k).map(String::from),
        }
    };
    match init_core(
        &st,
        &who.user_id,
        field("media_type"),
        field("total_bytes"),
        field("media_category"),
    ) {
        Ok(u) => init_answer(&u),
        Err(d) => problem(StatusCode::BAD_REQUEST, &d),
    }
}

/// `POST /2/media/upload/:id/append` (multipart `media` + `segment_index` 0–999).
pub async fn append(
    State(st): State<FakeState>,
    Extension(who): Extension<Principal>,
    Extension(p): Extension<Params>,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Response {
    let f = match fields(multipart).await {
        Ok(f) => f,
        Err(d) => return problem(StatusCode::BAD_REQUEST, &d),
    };
    let segment = text_field(&f, &p, "segment_index").and_then(|v| v.parse().ok());
    segment_append(&st, &who.user_id, &id, segment, media_len(&f))
}

/// `POST /2/media/upload/:id/finalize`: images succeed at once; videos start processing.
pub async fn finalize(
    State(st): State<FakeState>,
    Extension(who): Extension<Principal>,
    fault: Option<Extension<FaultKind>>,
    Path(id): Path<String>,
) -> Response {
    finalize_core(&st, &who.user_id, &id, fault.map(|Extension(f)| f))
}

/// `POST /2/media/upload`: the single-URL forms — `command=INIT|APPEND|FINALIZE` (query, form or
/// multipart fields), or, without `command`, a one-shot upload of `media` + `media_category`.
pub async fn upload(
    State(st): State<FakeState>,
    Extension(who): Extension<Principal>,
    Extension(p): Extension<Params>,
    fault: Option<Extension<FaultKind>>,
    req: axum::extract::Request,
) -> Response {
    let is_multipart = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let f = if is_multipart {
        let mp = match <Multipart as axum::extract::FromRequest<()>>::from_request(req, &()).await {
            Ok(m) => m,
            Err(_) => return problem(StatusCode::BAD_REQUEST, "malformed multipart body"),
        };
        match fields(mp).await {
            Ok(f) => f,
            Err(d) => return problem(StatusCode::BAD_REQUEST, &d),
        }
    } else {
        HashMap::new()
    };
    let field = |k: &str| text_field(&f, &p, k);
    let fault = fault.map(|Extension(f)| f);
    match field("command").map(|c| c.to_ascii_uppercase()).as_deref() {
        Some("INIT") => match init_core(
            &st,
            &who.user_id,
            field("media_type"),
            field("total_bytes"),
            field("media_category"),
        ) {
            Ok(u) => init_answer(&u),
            Err(d) => problem(StatusCode::BAD_REQUEST, &d),
        },
        Some("APPEND") => {
            let id = field("media_id").unwrap_or_default();
            let segment = field("segment_index").and_then(|v| v.parse().ok());
            segment_append(&st, &who.user_id, &id, segment, media_len(&f))
        }
        Some("FINALIZE") => {
            let id = field("media_id").unwrap_or_default();
            finalize_core(&st, &who.user_id, &id, fault)
        }
        Some(_) => problem(
            StatusCode::BAD_REQUEST,
            "command must be INIT, APPEND or FINALIZE",
        ),
        None => {
            let Some(len) = media_len(&f) else {
                return problem(StatusCode::BAD_REQUEST, "media is required");
            };
            let category = field("media_category");
            let media_type = field("media_type").or_else(|| {
                Some(match category.as_deref().unwrap_or("tweet_image") {
                    c if c.ends_with("gif") => "image/gif".into(),
                    c if c.ends_with("video") => "video/mp4".into(),
                    _ => "image/jpeg".into(),
                })
            });
            let u = match init_core(
                &st,
                &who.user_id,
                media_type,
                Some(len.to_string()),
                category,
            ) {
                Ok(u) => u,
                Err(d) => return problem(StatusCode::BAD_REQUEST, &d),
            };
            let appended = append_core(&st, &who.user_id, &u.id, Some(0), Some(len));
            if !appended.status().is_success() {
                return appended;
            }
            finalize_core(&st, &who.user_id, &u.id, fault)
        }
    }
}

/// `GET /2/media/upload?command=STATUS&media_id=…`: each poll moves a video one step.
pub async fn status(
    State(st): State<FakeState>,
    Extension(who): Extension<Principal>,
    Extension(p): Extension<Params>,
    fault: Option<Extension<FaultKind>>,
) -> Response {
    if p.get("command").map(str::to_ascii_uppercase).as_deref() != Some("STATUS") {
        return problem(StatusCode::BAD_REQUEST, "command must be STATUS");
    }
    let Some(id) = p.get("media_id").map(String::from) else {
        return problem(StatusCode::BAD_REQUEST, "media_id is required");
    };
    let polls_needed = st.config().video_processing_polls;
    let mut s = st.lock();
    let Some(u) = s
        .uploads
        .iter_mut()
        .find(|u| u.id == id && u.user_id == who.user_id)
    else {
        return not_found(&id);
    };
    if let Some(Extension(FaultKind::MediaProcessingFailed { message })) = fault {
        u.error = Some(message);
    }
    if matches!(u.state, UploadState::Pending | UploadState::InProgress) {
        u.polls += 1;
        u.state = if u.polls >= polls_needed {
            if u.error.is_some() {
                UploadState::Failed
            } else {
                UploadState::Succeeded
            }
        } else {
            UploadState::InProgress
        };
    }
    if u.state == UploadState::Receiving {
        return problem(StatusCode::BAD_REQUEST, "upload not finalized");
    }
    Json(json!({ "data": {
        "id": u.id,
        "media_key": u.media_key,
        "expires_after_secs": EXPIRES_AFTER_SECS,
        "processing_info": u.processing_info(),
    }}))
    .into_response()
}
