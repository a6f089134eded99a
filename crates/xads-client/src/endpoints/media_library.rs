//! The Media Library.

use super::Resource;
use crate::config::XAds;
use crate::envelope::XResponse;
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::models::{MediaLibraryCreate, MediaLibraryEntry};
use crate::params::ListParams;
use crate::request::CallOptions;

/// X's largest page size for the media library.
pub const MEDIA_LIBRARY_MAX_COUNT: u32 = 50;

const MEDIA_LIBRARY: Resource = Resource {
    path: "media_library",
    read_family: EndpointFamily::OtherRead,
    max_count: MEDIA_LIBRARY_MAX_COUNT,
    list: "list_media_library",
    get: "get_media_library_entry",
    create: "create_media_library_entry",
    update: "update_media_library_entry",
    delete: "delete_media_library_entry",
};

impl XAds {
    /// `GET /12/accounts/:id/media_library` (one page; `count` ≤ 50).
    pub async fn list_media_library(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<XResponse<Vec<MediaLibraryEntry>>, XError> {
        self.res_list(&MEDIA_LIBRARY, account_id, params).await
    }

    /// All pages of the media library.
    pub async fn list_all_media_library(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<Vec<MediaLibraryEntry>, XError> {
        self.res_list_all(&MEDIA_LIBRARY, account_id, params).await
    }

    /// `GET /12/accounts/:id/media_library/:media_key`.
    pub async fn get_media_library_entry(
        &self,
        account_id: &str,
        media_key: &str,
    ) -> Result<XResponse<MediaLibraryEntry>, XError> {
        self.res_get(&MEDIA_LIBRARY, account_id, media_key, false)
            .await
    }

    /// `POST /12/accounts/:id/media_library?media_key=…`.
    pub async fn create_media_library_entry(
        &self,
        account_id: &str,
        create: &MediaLibraryCreate,
        opts: &CallOptions,
    ) -> Result<XResponse<MediaLibraryEntry>, XError> {
        self.res_create(&MEDIA_LIBRARY, account_id, create, opts)
            .await
    }

    /// `DELETE /12/accounts/:id/media_library/:media_key`.
    pub async fn delete_media_library_entry(
        &self,
        account_id: &str,
        media_key: &str,
        opts: &CallOptions,
    ) -> Result<XResponse<MediaLibraryEntry>, XError> {
        self.res_delete(&MEDIA_LIBRARY, account_id, media_key, opts)
            .await
    }
}
