//! Line items.

use super::{MAX_COUNT, Resource};
use crate::config::XAds;
use crate::envelope::XResponse;
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::models::{LineItem, LineItemCreate, LineItemUpdate};
use crate::params::ListParams;
use crate::request::CallOptions;

const LINE_ITEMS: Resource = Resource {
    path: "line_items",
    read_family: EndpointFamily::CoreRead,
    max_count: MAX_COUNT,
    list: "list_line_items",
    get: "get_line_item",
    create: "create_line_item",
    update: "update_line_item",
    delete: "delete_line_item",
};

impl XAds {
    /// `GET /12/accounts/:id/line_items` (one page).
    pub async fn list_line_items(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<XResponse<Vec<LineItem>>, XError> {
        self.res_list(&LINE_ITEMS, account_id, params).await
    }

    /// All pages of line items.
    pub async fn list_all_line_items(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<Vec<LineItem>, XError> {
        self.res_list_all(&LINE_ITEMS, account_id, params).await
    }

    /// `GET /12/accounts/:id/line_items/:id`.
    pub async fn get_line_item(
        &self,
        account_id: &str,
        line_item_id: &str,
        with_deleted: bool,
    ) -> Result<XResponse<LineItem>, XError> {
        self.res_get(&LINE_ITEMS, account_id, line_item_id, with_deleted)
            .await
    }

    /// `POST /12/accounts/:id/line_items`.
    pub async fn create_line_item(
        &self,
        account_id: &str,
        line_item: &LineItemCreate,
        opts: &CallOptions,
    ) -> Result<XResponse<LineItem>, XError> {
        self.res_create(&LINE_ITEMS, account_id, line_item, opts)
            .await
    }

    /// `PUT /12/accounts/:id/line_items/:id` (partial).
    pub async fn update_line_item(
        &self,
        account_id: &str,
        line_item_id: &str,
        update: &LineItemUpdate,
        opts: &CallOptions,
    ) -> Result<XResponse<LineItem>, XError> {
        self.res_update(&LINE_ITEMS, account_id, line_item_id, update, opts)
            .await
    }

    /// `DELETE /12/accounts/:id/line_items/:id` (does not cascade to promoted tweets).
    pub async fn delete_line_item(
        &self,
        account_id: &str,
        line_item_id: &str,
        opts: &CallOptions,
    ) -> Result<XResponse<LineItem>, XError> {
        self.res_delete(&LINE_ITEMS, account_id, line_item_id, opts)
            .await
    }
}
