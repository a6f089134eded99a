//! Campaigns: the wire object and the create/update parameters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::common::{EntityStatus, lenient_i64, lenient_id, lenient_opt_id};
use crate::params::{Clearable, Params, ToParams};

/// A campaign (v12). Older responses also had `start_time`/`end_time`/`account_id`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Campaign {
    /// Id, e.g. `8wku2`.
    #[serde(deserialize_with = "lenient_id")]
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Funding instrument.
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub funding_instrument_id: Option<String>,
    /// `ACTIVE`, `PAUSED`, `DRAFT`.
    #[serde(default)]
    pub entity_status: Option<EntityStatus>,
    /// X's view of serving (`RUNNING`, `PAUSED`, `UNKNOWN`, ...).
    #[serde(default)]
    pub effective_status: Option<String>,
    /// Daily budget, micros of `currency`.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Total budget, micros of `currency`.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub total_budget_amount_local_micro: Option<i64>,
    /// `LINE_ITEM` (v12).
    #[serde(default)]
    pub budget_optimization: Option<String>,
    /// ISO-4217.
    #[serde(default)]
    pub currency: Option<String>,
    /// PO number.
    #[serde(default)]
    pub purchase_order_number: Option<String>,
    /// Whether it can serve.
    #[serde(default)]
    pub servable: Option<bool>,
    /// Why not.
    #[serde(default)]
    pub reasons_not_servable: Vec<String>,
    /// Standard (vs accelerated) delivery.
    #[serde(default)]
    pub standard_delivery: Option<bool>,
    /// Pre-v11 only.
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    /// Pre-v11 only.
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
    /// Pre-v11 only.
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub account_id: Option<String>,
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

/// `POST /12/accounts/:id/campaigns` parameters (serde: how an outbound intent records them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignCreate {
    /// Required.
    pub funding_instrument_id: String,
    /// Required, ≤ 255 chars.
    pub name: String,
    /// Micros; ≤ total.
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Micros.
    pub total_budget_amount_local_micro: Option<i64>,
    /// ACTIVE (X's default), PAUSED or DRAFT.
    pub entity_status: Option<EntityStatus>,
    /// ≤ 50 chars.
    pub purchase_order_number: Option<String>,
    /// Only `LINE_ITEM` in v12.
    pub budget_optimization: Option<String>,
}

impl ToParams for CampaignCreate {
    fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("funding_instrument_id", self.funding_instrument_id.clone())
            .push("name", self.name.clone())
            .opt(
                "daily_budget_amount_local_micro",
                self.daily_budget_amount_local_micro,
            )
            .opt(
                "total_budget_amount_local_micro",
                self.total_budget_amount_local_micro,
            )
            .opt("entity_status", self.entity_status.as_ref())
            .opt(
                "purchase_order_number",
                self.purchase_order_number.as_deref(),
            )
            .opt("budget_optimization", self.budget_optimization.as_deref());
        p
    }
}

/// `PUT /12/accounts/:id/campaigns/:id` parameters; only set fields are sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignUpdate {
    /// New funding instrument.
    pub funding_instrument_id: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New daily budget (`Some(None)` clears it).
    pub daily_budget_amount_local_micro: Clearable<i64>,
    /// New total budget (`Some(None)` clears it).
    pub total_budget_amount_local_micro: Clearable<i64>,
    /// ACTIVE or PAUSED.
    pub entity_status: Option<EntityStatus>,
    /// New PO number (`Some(None)` clears it).
    pub purchase_order_number: Clearable<String>,
    /// Budget optimization.
    pub budget_optimization: Option<String>,
}

impl CampaignUpdate {
    /// An update that only changes `entity_status` (pause/resume).
    pub fn status(status: EntityStatus) -> Self {
        CampaignUpdate {
            entity_status: Some(status),
            ..Self::default()
        }
    }
}

impl ToParams for CampaignUpdate {
    fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.opt(
            "funding_instrument_id",
            self.funding_instrument_id.as_deref(),
        )
        .opt("name", self.name.as_deref())
        .clearable(
            "daily_budget_amount_local_micro",
            &self.daily_budget_amount_local_micro,
        )
        .clearable(
            "total_budget_amount_local_micro",
            &self.total_budget_amount_local_micro,
        )
        .opt("entity_status", self.entity_status.as_ref())
        .clearable("purchase_order_number", &self.purchase_order_number)
        .opt("budget_optimization", self.budget_optimization.as_deref());
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_sends_required_and_set_fields_only() {
        let p = CampaignCreate {
            funding_instrument_id: "lygyi".into(),
            name: "Spring sale".into(),
            daily_budget_amount_local_micro: Some(10_000_000),
            entity_status: Some(EntityStatus::Paused),
            ..Default::default()
        }
        .to_params();
        assert_eq!(
            p.encode(),
            "funding_instrument_id=lygyi&name=Spring%20sale&daily_budget_amount_local_micro=10000000&entity_status=PAUSED"
        );
    }

    #[test]
    fn update_is_partial() {
        let p = CampaignUpdate::status(EntityStatus::Active).to_params();
        assert_eq!(p.encode(), "entity_status=ACTIVE");
        let p = CampaignUpdate {
            total_budget_amount_local_micro: Some(None),
            ..Default::default()
        }
        .to_params();
        assert_eq!(p.encode(), "total_budget_amount_local_micro=");
    }
}
