//! X API v2 chunked media upload: initialize → append… → finalize → poll status.
//!
//! Upload calls are retried like reads (also after 5xx/timeouts): re-sending a segment replaces it
//! and a duplicate upload session is harmless, so no exactly-once guard is needed.

use bytes::Bytes;
use http::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::config::XAds;
use crate::envelope::XResponse;
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::params::{Params, percent_encode};
use crate::request::{Body, Call, CallOptions, Part};

/// X's largest segment index (segments are numbered 0..=999).
pub const MAX_SEGMENT_INDEX: u32 = 999;

/// `POST /2/media/upload/initialize` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MediaInit {
    /// MIME type, e.g. `video/mp4`.
    pub media_type: String,
    /// Size of the whole file.
    pub total_bytes: u64,
    /// `amplify_video`, `tweet_image`, `tweet_gif`, `tweet_video`.
    pub media_category: String,
    /// Other user ids allowed to use the media (≤ 100).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_owners: Vec<String>,
    /// Shared media.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
}

/// X's media processing state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessingState {
    /// `pending`
    Pending,
    /// `in_progress`
    InProgress,
    /// `succeeded`
    Succeeded,
    /// `failed`
    Failed,
    /// Anything else.
    Other(String),
}

impl<'de> Deserialize<'de> for ProcessingState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "pending" => ProcessingState::Pending,
            "in_progress" => ProcessingState::InProgress,
            "succeeded" => ProcessingState::Succeeded,
            "failed" => ProcessingState::Failed,
            _ => ProcessingState::Other(s),
        })
    }
}

/// `processing_info` of an asynchronously processed upload.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ProcessingInfo {
    /// Current state.
    pub state: ProcessingState,
    /// Poll again after this many seconds.
    #[serde(default)]
    pub check_after_secs: Option<u64>,
    /// Progress, 0–100.
    #[serde(default)]
    pub progress_percent: Option<u32>,
    /// Failure details when `state` is `failed`.
    #[serde(default)]
    pub error: Option<Value>,
}

impl ProcessingInfo {
    /// True once X is done, either way.
    pub fn is_final(&self) -> bool {
        matches!(
            self.state,
            ProcessingState::Succeeded | ProcessingState::Failed
        )
    }
}

/// An upload session / uploaded media as X describes it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MediaUpload {
    /// The media id (decimal string).
    #[serde(deserialize_with = "crate::models::lenient_id")]
    pub id: String,
    /// The media key for the Media Library (`13_…`).
    #[serde(default)]
    pub media_key: Option<String>,
    /// Seconds the session/media stays usable.
    #[serde(default)]
    pub expires_after_secs: Option<u64>,
    /// Size in bytes (after finalize).
    #[serde(default)]
    pub size: Option<u64>,
    /// Present when X processes the media asynchronously.
    #[serde(default)]
    pub processing_info: Option<ProcessingInfo>,
}

fn media_call(operation: &'static str, method: Method, path: String) -> Call {
    keyed_media_call(operation, method, path, None)
}

/// A media call, labelled with `Idempotency-Key` when `key` is given (PRODUCT.md §4.5: every
/// write to X carries one; for uploads it is only a label, a resent segment replaces itself).
fn keyed_media_call(
    operation: &'static str,
    method: Method,
    path: String,
    key: Option<&str>,
) -> Call {
    let mut options = CallOptions::new().retry_ambiguous(true);
    options.idempotency_key = key.map(str::to_owned);
    Call::api(operation, method, path, EndpointFamily::Media).options(&options)
}

impl XAds {
    /// `POST {api}/2/media/upload/initialize` (JSON body).
    pub async fn media_initialize(
        &self,
        init: &MediaInit,
    ) -> Result<XResponse<MediaUpload>, XError> {
        self.media_initialize_keyed(init, None).await
    }

    /// [`XAds::media_initialize`] with an optional `Idempotency-Key`.
    pub async fn media_initialize_keyed(
        &self,
        init: &MediaInit,
        key: Option<&str>,
    ) -> Result<XResponse<MediaUpload>, XError> {
        let body = serde_json::to_value(init).map_err(|e| XError::Invalid {
            operation: "media_initialize",
            message: e.to_string(),
        })?;
        let call = keyed_media_call(
            "media_initialize",
            Method::POST,
            "/2/media/upload/initialize".into(),
            key,
        )
        .body(Body::Json(body));
        self.envelope(call).await
    }

    /// `POST {api}/2/media/upload/{id}/append`, multipart fields `media` and `segment_index`.
    pub async fn media_append(
        &self,
        media_id: &str,
        segment_index: u32,
        chunk: Bytes,
    ) -> Result<(), XError> {
        self.media_append_keyed(media_id, segment_index, chunk, None)
            .await
    }

    /// [`XAds::media_append`] with an optional `Idempotency-Key`.
    pub async fn media_append_keyed(
        &self,
        media_id: &str,
        segment_index: u32,
        chunk: Bytes,
        key: Option<&str>,
    ) -> Result<(), XError> {
        const OP: &str = "media_append";
        if segment_index > MAX_SEGMENT_INDEX {
            return Err(XError::Invalid {
                operation: OP,
                message: format!("segment_index must be 0 to {MAX_SEGMENT_INDEX}"),
            });
        }
        let call = keyed_media_call(
            OP,
            Method::POST,
            format!("/2/media/upload/{}/append", percent_encode(media_id)),
            key,
        )
        .body(Body::Multipart(vec![
            Part {
                name: "media",
                data: chunk,
                file_name: Some("media".into()),
            },
            Part {
                name: "segment_index",
                data: Bytes::from(segment_index.to_string()),
                file_name: None,
            },
        ]));
        self.send(call).await.map(|_| ())
    }

    /// `POST {api}/2/media/upload/{id}/finalize`.
    pub async fn media_finalize(&self, media_id: &str) -> Result<XResponse<MediaUpload>, XError> {
        self.media_finalize_keyed(media_id, None).await
    }

    /// [`XAds::media_finalize`] with an optional `Idempotency-Key`.
    pub async fn media_finalize_keyed(
        &self,
        media_id: &str,
        key: Option<&str>,
    ) -> Result<XResponse<MediaUpload>, XError> {
        let call = keyed_media_call(
            "media_finalize",
            Method::POST,
            format!("/2/media/upload/{}/finalize", percent_encode(media_id)),
            key,
        );
        self.envelope(call).await
    }

    /// `GET {api}/2/media/upload?command=STATUS&media_id=…`.
    pub async fn media_status(&self, media_id: &str) -> Result<XResponse<MediaUpload>, XError> {
        let mut query = Params::new();
        query.push("command", "STATUS").push("media_id", media_id);
        let call = media_call("media_status", Method::GET, "/2/media/upload".into()).query(query);
        self.envelope(call).await
    }
}
