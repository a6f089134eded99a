//! `GET /12/accounts`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::common::{lenient_id, lenient_opt_id};

/// An ads account. Accounts carry no currency (it comes from funding instruments).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Account {
    /// Base-36 id, e.g. `18ce54d4x5t`.
    #[serde(deserialize_with = "lenient_id")]
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// IANA time zone; stats days are midnight here.
    #[serde(default)]
    pub timezone: Option<String>,
    /// When the time zone last changed.
    #[serde(default)]
    pub timezone_switch_at: Option<DateTime<Utc>>,
    /// `ACCEPTED`, ...
    #[serde(default)]
    pub approval_status: Option<String>,
    /// Business name, if any.
    #[serde(default)]
    pub business_name: Option<String>,
    /// Business id, if any.
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub business_id: Option<String>,
    /// Created.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Last updated.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Deleted flag.
    #[serde(default)]
    pub deleted: bool,
}
