//! Targeting criteria.

use super::{MAX_COUNT, Resource};
use crate::config::XAds;
use crate::envelope::XResponse;
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::models::{TargetingCriterion, TargetingCriterionCreate};
use crate::params::ListParams;
use crate::request::CallOptions;

const TARGETING_CRITERIA: Resource = Resource {
    path: "targeting_criteria",
    read_family: EndpointFamily::OtherRead,
    max_count: MAX_COUNT,
    list: "list_targeting_criteria",
    get: "get_targeting_criterion",
    create: "create_targeting_criterion",
    update: "update_targeting_criterion",
    delete: "delete_targeting_criterion",
};

/// X requires `line_item_ids` (1..=200) on the list call.
fn line_item_params(line_item_ids: &[String], params: &ListParams) -> Result<ListParams, XError> {
    if line_item_ids.is_empty() || line_item_ids.len() > 200 {
        return Err(XError::Invalid {
            operation: TARGETING_CRITERIA.list,
            message: format!(
                "line_item_ids must hold 1 to 200 ids, got {}",
                line_item_ids.len()
            ),
        });
    }
    Ok(params
        .clone()
        .ids("line_item_ids", line_item_ids.iter().cloned()))
}

impl XAds {
    /// `GET /12/accounts/:id/targeting_criteria?line_item_ids=…` (one page).
    pub async fn list_targeting_criteria(
        &self,
        account_id: &str,
        line_item_ids: &[String],
        params: &ListParams,
    ) -> Result<XResponse<Vec<TargetingCriterion>>, XError> {
        let params = line_item_params(line_item_ids, params)?;
        self.res_list(&TARGETING_CRITERIA, account_id, &params)
            .await
    }

    /// All pages of targeting criteria of the given line items.
    pub async fn list_all_targeting_criteria(
        &self,
        account_id: &str,
        line_item_ids: &[String],
        params: &ListParams,
    ) -> Result<Vec<TargetingCriterion>, XError> {
        let params = line_item_params(line_item_ids, params)?;
        self.res_list_all(&TARGETING_CRITERIA, account_id, &params)
            .await
    }

    /// `POST /12/accounts/:id/targeting_criteria`.
    pub async fn create_targeting_criterion(
        &self,
        account_id: &str,
        create: &TargetingCriterionCreate,
        opts: &CallOptions,
    ) -> Result<XResponse<TargetingCriterion>, XError> {
        self.res_create(&TARGETING_CRITERIA, account_id, create, opts)
            .await
    }

    /// `DELETE /12/accounts/:id/targeting_criteria/:id`.
    pub async fn delete_targeting_criterion(
        &self,
        account_id: &str,
        targeting_criterion_id: &str,
        opts: &CallOptions,
    ) -> Result<XResponse<TargetingCriterion>, XError> {
        self.res_delete(
            &TARGETING_CRITERIA,
            account_id,
            targeting_criterion_id,
            opts,
        )
        .await
    }
}
