//! Targeting criteria (a line item needs them before it can serve).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::common::{lenient_id, lenient_opt_id};
use crate::params::{Params, ToParams};

/// A targeting criterion of a line item.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct TargetingCriterion {
    /// Id.
    #[serde(deserialize_with = "lenient_id")]
    pub id: String,
    /// The line item it narrows.
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub line_item_id: Option<String>,
    /// `LOCATION`, `BROAD_KEYWORD`, `CUSTOM_AUDIENCE`, ...
    #[serde(default)]
    pub targeting_type: Option<String>,
    /// The value (a location key, keyword, audience id, ...).
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub targeting_value: Option<String>,
    /// X's display name of the value.
    #[serde(default)]
    pub name: Option<String>,
    /// `EQ` (default), `NE`, `GTE`, `LT`.
    #[serde(default)]
    pub operator_type: Option<String>,
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

/// `POST /12/accounts/:id/targeting_criteria` parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetingCriterionCreate {
    /// The line item.
    pub line_item_id: String,
    /// e.g. `LOCATION`.
    pub targeting_type: String,
    /// e.g. a location key.
    pub targeting_value: String,
    /// `EQ` (X's default), `NE`, `GTE`, `LT`.
    pub operator_type: Option<String>,
}

impl ToParams for TargetingCriterionCreate {
    fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("line_item_id", self.line_item_id.clone())
            .push("targeting_type", self.targeting_type.clone())
            .push("targeting_value", self.targeting_value.clone())
            .opt("operator_type", self.operator_type.as_deref());
        p
    }
}
