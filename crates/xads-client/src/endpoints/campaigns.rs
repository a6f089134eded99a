//! Campaigns.

use super::{MAX_COUNT, Resource};
use crate::config::XAds;
use crate::envelope::XResponse;
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::models::{Campaign, CampaignCreate, CampaignUpdate};
use crate::params::ListParams;
use crate::request::CallOptions;

const CAMPAIGNS: Resource = Resource {
    path: "campaigns",
    read_family: EndpointFamily::CoreRead,
    max_count: MAX_COUNT,
    list: "list_campaigns",
    get: "get_campaign",
    create: "create_campaign",
    update: "update_campaign",
    delete: "delete_campaign",
};

impl XAds {
    /// `GET /12/accounts/:id/campaigns` (one page).
    pub async fn list_campaigns(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<XResponse<Vec<Campaign>>, XError> {
        self.res_list(&CAMPAIGNS, account_id, params).await
    }

    /// All pages of campaigns.
    pub async fn list_all_campaigns(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<Vec<Campaign>, XError> {
        self.res_list_all(&CAMPAIGNS, account_id, params).await
    }

    /// `GET /12/accounts/:id/campaigns/:id`.
    pub async fn get_campaign(
        &self,
        account_id: &str,
        campaign_id: &str,
        with_deleted: bool,
    ) -> Result<XResponse<Campaign>, XError> {
        self.res_get(&CAMPAIGNS, account_id, campaign_id, with_deleted)
            .await
    }

    /// `POST /12/accounts/:id/campaigns`.
    pub async fn create_campaign(
        &self,
        account_id: &str,
        campaign: &CampaignCreate,
        opts: &CallOptions,
    ) -> Result<XResponse<Campaign>, XError> {
        self.res_create(&CAMPAIGNS, account_id, campaign, opts)
            .await
    }

    /// `PUT /12/accounts/:id/campaigns/:id` (partial).
    pub async fn update_campaign(
        &self,
        account_id: &str,
        campaign_id: &str,
        update: &CampaignUpdate,
        opts: &CallOptions,
    ) -> Result<XResponse<Campaign>, XError> {
        self.res_update(&CAMPAIGNS, account_id, campaign_id, update, opts)
            .await
    }

    /// `DELETE /12/accounts/:id/campaigns/:id` (irreversible).
    pub async fn delete_campaign(
        &self,
        account_id: &str,
        campaign_id: &str,
        opts: &CallOptions,
    ) -> Result<XResponse<Campaign>, XError> {
        self.res_delete(&CAMPAIGNS, account_id, campaign_id, opts)
            .await
    }
}
