//! Line items ("ad groups"): the wire object and the create/update parameters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::common::{EntityStatus, lenient_i64, lenient_id, lenient_opt_id};
use crate::params::{Clearable, Params, ToParams};
use crate::vocab::{BidStrategy, Goal, LineItemPlacement, Objective, PayBy, ProductType};

/// A line item. v10+ names (`bid_strategy`, `pay_by`, `goal`) are typed; the pre-v10 names
/// (`bid_type`, `charge_by`, `bid_unit`, `optimization`) are kept optional for old data.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct LineItem {
    /// Id.
    #[serde(deserialize_with = "lenient_id")]
    pub id: String,
    /// Parent campaign.
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub campaign_id: Option<String>,
    /// Funding instrument (GET only).
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub funding_instrument_id: Option<String>,
    /// Name (may be null).
    #[serde(default)]
    pub name: Option<String>,
    /// `ENGAGEMENTS`, `WEBSITE_CLICKS`, ...
    #[serde(default)]
    pub objective: Option<String>,
    /// `PROMOTED_TWEETS`, `PROMOTED_ACCOUNT`, `MEDIA`.
    #[serde(default)]
    pub product_type: Option<String>,
    /// `ALL_ON_TWITTER`, `TWITTER_TIMELINE`, ...
    #[serde(default)]
    pub placements: Vec<String>,
    /// `AUTO`, `MAX`, `TARGET`.
    #[serde(default)]
    pub bid_strategy: Option<String>,
    /// Bid, micros.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub bid_amount_local_micro: Option<i64>,
    /// Target CPA, micros.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub target_cpa_local_micro: Option<i64>,
    /// Optimization goal.
    #[serde(default)]
    pub goal: Option<String>,
    /// Billing event.
    #[serde(default)]
    pub pay_by: Option<String>,
    /// Flight start.
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    /// Flight end.
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
    /// Daily budget, micros.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Total budget, micros.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub total_budget_amount_local_micro: Option<i64>,
    /// `ACTIVE`, `PAUSED`, `DRAFT`.
    #[serde(default)]
    pub entity_status: Option<EntityStatus>,
    /// ISO-4217.
    #[serde(default)]
    pub currency: Option<String>,
    /// Standard delivery.
    #[serde(default)]
    pub standard_delivery: Option<bool>,
    /// Advertiser domain (PUBLISHER_NETWORK).
    #[serde(default)]
    pub advertiser_domain: Option<String>,
    /// IAB categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Promoting user.
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub advertiser_user_id: Option<String>,
    /// Web event tag for WEBSITE_CONVERSIONS.
    #[serde(default)]
    pub primary_web_event_tag: Option<String>,
    /// Android app id.
    #[serde(default)]
    pub android_app_store_identifier: Option<String>,
    /// iOS app id.
    #[serde(default)]
    pub ios_app_store_identifier: Option<String>,
    /// `MANUAL`, ...
    #[serde(default)]
    pub creative_source: Option<String>,
    /// Pre-v10 name of `bid_strategy`.
    #[serde(default)]
    pub bid_type: Option<String>,
    /// Pre-v10 name of `pay_by`.
    #[serde(default)]
    pub charge_by: Option<String>,
    /// Pre-v10 part of `goal`.
    #[serde(default)]
    pub bid_unit: Option<String>,
    /// Pre-v10 part of `goal`.
    #[serde(default)]
    pub optimization: Option<String>,
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

/// `POST /12/accounts/:id/line_items` parameters (build with [`LineItemCreate::new`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItemCreate {
    /// Required.
    pub campaign_id: String,
    /// Required, e.g. `ENGAGEMENTS`.
    pub objective: Objective,
    /// Required, e.g. `PROMOTED_TWEETS`.
    pub product_type: ProductType,
    /// Required, e.g. `["ALL_ON_TWITTER"]`.
    pub placements: Vec<LineItemPlacement>,
    /// 1–255 chars.
    pub name: Option<String>,
    /// `AUTO`, `MAX`, `TARGET`.
    pub bid_strategy: Option<BidStrategy>,
    /// Required with MAX/TARGET.
    pub bid_amount_local_micro: Option<i64>,
    /// Optimization goal.
    pub goal: Option<Goal>,
    /// Billing event.
    pub pay_by: Option<PayBy>,
    /// Flight start.
    pub start_time: Option<DateTime<Utc>>,
    /// Flight end.
    pub end_time: Option<DateTime<Utc>>,
    /// Micros.
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Micros.
    pub total_budget_amount_local_micro: Option<i64>,
    /// ACTIVE, PAUSED, DRAFT.
    pub entity_status: Option<EntityStatus>,
    /// Standard delivery.
    pub standard_delivery: Option<bool>,
    /// For PUBLISHER_NETWORK.
    pub advertiser_domain: Option<String>,
    /// For PUBLISHER_NETWORK.
    pub categories: Vec<String>,
    /// For WEBSITE_CONVERSIONS.
    pub primary_web_event_tag: Option<String>,
    /// For APP_* objectives.
    pub android_app_store_identifier: Option<String>,
    /// For APP_* objectives.
    pub ios_app_store_identifier: Option<String>,
    /// Promoting user.
    pub advertiser_user_id: Option<String>,
    /// `BROAD`, `DEFINED`, `EXPANDED`.
    pub audience_expansion: Option<String>,
}

impl LineItemCreate {
    /// The required parameters; every optional one unset.
    pub fn new(
        campaign_id: impl Into<String>,
        objective: Objective,
        product_type: ProductType,
        placements: Vec<LineItemPlacement>,
    ) -> Self {
        LineItemCreate {
            campaign_id: campaign_id.into(),
            objective,
            product_type,
            placements,
            name: None,
            bid_strategy: None,
            bid_amount_local_micro: None,
            goal: None,
            pay_by: None,
            start_time: None,
            end_time: None,
            daily_budget_amount_local_micro: None,
            total_budget_amount_local_micro: None,
            entity_status: None,
            standard_delivery: None,
            advertiser_domain: None,
            categories: Vec::new(),
            primary_web_event_tag: None,
            android_app_store_identifier: None,
            ios_app_store_identifier: None,
            advertiser_user_id: None,
            audience_expansion: None,
        }
    }
}

impl ToParams for LineItemCreate {
    fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("campaign_id", self.campaign_id.clone())
            .push("objective", self.objective.as_str())
            .push("product_type", self.product_type.as_str())
            .list("placements", &self.placements)
            .opt("name", self.name.as_deref())
            .opt("bid_strategy", self.bid_strategy)
            .opt("bid_amount_local_micro", self.bid_amount_local_micro)
            .opt("goal", self.goal)
            .opt("pay_by", self.pay_by)
            .time("start_time", self.start_time)
            .time("end_time", self.end_time)
            .opt(
                "daily_budget_amount_local_micro",
                self.daily_budget_amount_local_micro,
            )
            .opt(
                "total_budget_amount_local_micro",
                self.total_budget_amount_local_micro,
            )
            .opt("entity_status", self.entity_status.as_ref())
            .flag("standard_delivery", self.standard_delivery)
            .opt("advertiser_domain", self.advertiser_domain.as_deref())
            .list("categories", &self.categories)
            .opt(
                "primary_web_event_tag",
                self.primary_web_event_tag.as_deref(),
            )
            .opt(
                "android_app_store_identifier",
                self.android_app_store_identifier.as_deref(),
            )
            .opt(
                "ios_app_store_identifier",
                self.ios_app_store_identifier.as_deref(),
            )
            .opt("advertiser_user_id", self.advertiser_user_id.as_deref())
            .opt("audience_expansion", self.audience_expansion.as_deref());
        p
    }
}

/// `PUT /12/accounts/:id/line_items/:id` parameters; only set fields are sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineItemUpdate {
    /// New name.
    pub name: Option<String>,
    /// New placements.
    pub placements: Option<Vec<LineItemPlacement>>,
    /// New bid strategy.
    pub bid_strategy: Option<BidStrategy>,
    /// New bid (`Some(None)` clears it).
    pub bid_amount_local_micro: Clearable<i64>,
    /// New goal.
    pub goal: Option<Goal>,
    /// New billing event.
    pub pay_by: Option<PayBy>,
    /// New start.
    pub start_time: Option<DateTime<Utc>>,
    /// New end (`Some(None)` clears it).
    pub end_time: Clearable<DateTime<Utc>>,
    /// New daily budget (`Some(None)` clears it).
    pub daily_budget_amount_local_micro: Clearable<i64>,
    /// New total budget (`Some(None)` clears it).
    pub total_budget_amount_local_micro: Clearable<i64>,
    /// ACTIVE or PAUSED.
    pub entity_status: Option<EntityStatus>,
    /// Standard delivery.
    pub standard_delivery: Option<bool>,
    /// Advertiser domain.
    pub advertiser_domain: Option<String>,
    /// Audience expansion.
    pub audience_expansion: Option<String>,
}

impl LineItemUpdate {
    /// An update that only changes `entity_status` (pause/resume).
    pub fn status(status: EntityStatus) -> Self {
        LineItemUpdate {
            entity_status: Some(status),
            ..Self::default()
        }
    }
}

impl ToParams for LineItemUpdate {
    fn to_params(&self) -> Params {
        let mut p = Params::new();
        let end_time = self.end_time.map(|t| t.map(crate::params::format_time));
        p.opt("name", self.name.as_deref());
        if let Some(placements) = &self.placements {
            p.list("placements", placements);
        }
        p.opt("bid_strategy", self.bid_strategy)
            .clearable("bid_amount_local_micro", &self.bid_amount_local_micro)
            .opt("goal", self.goal)
            .opt("pay_by", self.pay_by)
            .time("start_time", self.start_time)
            .clearable("end_time", &end_time)
            .clearable(
                "daily_budget_amount_local_micro",
                &self.daily_budget_amount_local_micro,
            )
            .clearable(
                "total_budget_amount_local_micro",
                &self.total_budget_amount_local_micro,
            )
            .opt("entity_status", self.entity_status.as_ref())
            .flag("standard_delivery", self.standard_delivery)
            .opt("advertiser_domain", self.advertiser_domain.as_deref())
            .opt("audience_expansion", self.audience_expansion.as_deref());
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn create_encodes_lists_and_times() {
        let p = LineItemCreate {
            bid_amount_local_micro: Some(320_000),
            start_time: Some(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()),
            entity_status: Some(EntityStatus::Paused),
            ..LineItemCreate::new(
                "f4z6x",
                Objective::Engagements,
                ProductType::PromotedTweets,
                vec![
                    LineItemPlacement::TwitterTimeline,
                    LineItemPlacement::TwitterSearch,
                ],
            )
        }
        .to_params();
        assert_eq!(p.get("placements"), Some("TWITTER_TIMELINE,TWITTER_SEARCH"));
        assert_eq!(p.get("start_time"), Some("2026-06-01T00:00:00Z"));
        assert_eq!(p.get("entity_status"), Some("PAUSED"));
        assert_eq!(p.get("end_time"), None);
        assert_eq!(p.get("categories"), None);
    }

    #[test]
    fn update_can_clear_end_time() {
        let p = LineItemUpdate {
            end_time: Some(None),
            ..Default::default()
        }
        .to_params();
        assert_eq!(p.encode(), "end_time=");
    }
}
