//! The account's Media Library (after a v2 media upload).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::common::lenient_id;
use crate::params::{Params, ToParams};

/// A Media Library entry, keyed by `media_key` (`3_…` image, `13_…` amplify video, ...).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct MediaLibraryEntry {
    /// The media key.
    #[serde(deserialize_with = "lenient_id")]
    pub media_key: String,
    /// Public URL.
    #[serde(default)]
    pub media_url: Option<String>,
    /// `TWEET_IMAGE`, `AMPLIFY_VIDEO`, ...
    #[serde(default)]
    pub media_category: Option<String>,
    /// `IMAGE`, `VIDEO`, `GIF`.
    #[serde(default)]
    pub media_type: Option<String>,
    /// `TRANSCODE_COMPLETED`, ...
    #[serde(default)]
    pub media_status: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// File name.
    #[serde(default)]
    pub file_name: Option<String>,
    /// Video title.
    #[serde(default)]
    pub title: Option<String>,
    /// Video description.
    #[serde(default)]
    pub description: Option<String>,
    /// Video duration, ms.
    #[serde(default)]
    pub duration: Option<u64>,
    /// Poster image key.
    #[serde(default)]
    pub poster_media_key: Option<String>,
    /// Poster image URL.
    #[serde(default)]
    pub poster_media_url: Option<String>,
    /// e.g. `16:9`.
    #[serde(default)]
    pub aspect_ratio: Option<String>,
    /// Used in a tweet already.
    #[serde(default)]
    pub tweeted: Option<bool>,
    /// Created.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Updated.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Deleted flag.
    #[serde(default)]
    pub deleted: bool,
}

/// `POST /12/accounts/:id/media_library` parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaLibraryCreate {
    /// Required: the key from the upload.
    pub media_key: String,
    /// ≤ 100 chars.
    pub name: Option<String>,
    /// ≤ 255 chars.
    pub file_name: Option<String>,
    /// Video only, ≤ 70 chars.
    pub title: Option<String>,
    /// Video only, ≤ 200 chars.
    pub description: Option<String>,
    /// Video only.
    pub poster_media_key: Option<String>,
}

impl ToParams for MediaLibraryCreate {
    fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("media_key", self.media_key.clone())
            .opt("name", self.name.as_deref())
            .opt("file_name", self.file_name.as_deref())
            .opt("title", self.title.as_deref())
            .opt("description", self.description.as_deref())
            .opt("poster_media_key", self.poster_media_key.as_deref());
        p
    }
}
