//! `GET /12/accounts/:id/funding_instruments`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::common::{EntityStatus, lenient_i64, lenient_id, lenient_opt_id};

/// A funding instrument: where the money comes from, and the currency of everything under it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct FundingInstrument {
    /// Id.
    #[serde(deserialize_with = "lenient_id")]
    pub id: String,
    /// Owning account (older responses only).
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub account_id: Option<String>,
    /// `CREDIT_CARD`, `CREDIT_LINE`, `INSERTION_ORDER`, ...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// ISO-4217 currency code.
    #[serde(default)]
    pub currency: Option<String>,
    /// Status (absent in the oldest responses, which used `paused`).
    #[serde(default)]
    pub entity_status: Option<EntityStatus>,
    /// Whether it can fund campaigns.
    #[serde(default)]
    pub able_to_fund: Option<bool>,
    /// Why not.
    #[serde(default)]
    pub reasons_not_able_to_fund: Vec<String>,
    /// Start.
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    /// End.
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
    /// Credit limit (CREDIT_CARD/CREDIT_LINE), micros.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub credit_limit_local_micro: Option<i64>,
    /// Credit remaining, micros.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub credit_remaining_local_micro: Option<i64>,
    /// Funded amount (INSERTION_ORDER), micros.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub funded_amount_local_micro: Option<i64>,
    /// Legacy flag (pre-entity_status).
    #[serde(default)]
    pub paused: Option<bool>,
    /// Legacy flag.
    #[serde(default)]
    pub cancelled: Option<bool>,
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
