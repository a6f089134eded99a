//! X API v2 chunked media upload: initialize, append, finalize, STATUS polling.

use std::collections::BTreeMap;

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
    let Some(media_type) = field("media_type") else {
        return problem(StatusCode::BAD_REQUEST, "media_type is required");
    };
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
    if !TYPES.contains(&media_type.as_str()) {
        return problem(StatusCode::BAD_REQUEST, "media_type is not supported");
    }
    let Some(total_bytes) = field("total_bytes").and_then(|v| v.parse::<u64>().ok()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "total_bytes must be a positive integer",
        );
    };
    let category = field("media_category")
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
        _ => return problem(StatusCode::BAD_REQUEST, "media_category is not supported"),
    };
    if total_bytes == 0 || total_bytes > size_limit(&category) {
        return problem(
            StatusCode::BAD_REQUEST,
            "total_bytes exceeds the limit for this media_category",
        );
    }
    let mut s = st.lock();
    let id = s.ids.decimal();
    let now = s.clock.now();
    let upload = Upload {
        media_key: format!("{prefix}_{id}"),
        id: id.clone(),
        user_id: who.user_id,
        media_type,
        media_category: category,
        total_bytes,
        segments: BTreeMap::new(),
        state: UploadState::Receiving,
        polls: 0,
        error: None,
        created_at: now,
    };
    let key = upload.media_key.clone();
    s.uploads.push(upload);
    Json(
        json!({ "data": { "id": id, "media_key": key, "expires_after_secs": EXPIRES_AFTER_SECS } }),
    )
    .into_response()
}

/// `POST /2/media/upload/:id/append` (multipart `media` + `segment_index` 0–999).
pub async fn append(
    State(st): State<FakeState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let mut segment: Option<u32> = None;
    let mut len: Option<u64> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                let Ok(bytes) = field.bytes().await else {
                    return problem(StatusCode::BAD_REQUEST, "malformed multipart body");
                };
                match name.as_str() {
                    "media" | "media_data" => len = Some(bytes.len() as u64),
                    "segment_index" => {
                        segment = std::str::from_utf8(&bytes)
                            .ok()
                            .and_then(|v| v.trim().parse().ok())
                    }
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return problem(StatusCode::BAD_REQUEST, "malformed multipart body"),
        }
    }
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
    let now = s.clock.now();
    let Some(u) = s
        .uploads
        .iter_mut()
        .find(|u| u.id == id && u.user_id == who.user_id)
    else {
        return not_found(&id);
    };
    if u.state != UploadState::Receiving {
        return problem(StatusCode::BAD_REQUEST, "upload already finalized");
    }
    u.segments.insert(segment, len);
    let expires = u.created_at.timestamp() + EXPIRES_AFTER_SECS;
    let _ = now;
    Json(json!({ "data": { "expires_at": expires } })).into_response()
}

/// `POST /2/media/upload/:id/finalize`: images succeed at once; videos start processing.
pub async fn finalize(
    State(st): State<FakeState>,
    Extension(who): Extension<Principal>,
    fault: Option<Extension<FaultKind>>,
    Path(id): Path<String>,
) -> Response {
    let mut s = st.lock();
    let Some(u) = s
        .uploads
        .iter_mut()
        .find(|u| u.id == id && u.user_id == who.user_id)
    else {
        return not_found(&id);
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
    if let Some(Extension(FaultKind::MediaProcessingFailed { message })) = fault {
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
