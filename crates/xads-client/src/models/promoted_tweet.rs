//! Promoted tweets: a tweet attached to a line item.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::common::{EntityStatus, lenient_id};
use crate::params::{Params, ToParams};

/// X accepts at most this many `tweet_ids` per POST.
pub const MAX_TWEET_IDS: usize = 50;

/// A promoted tweet.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct PromotedTweet {
    /// The promoted tweet's id (not the tweet id).
    #[serde(deserialize_with = "lenient_id")]
    pub id: String,
    /// Parent line item.
    #[serde(default)]
    pub line_item_id: Option<String>,
    /// The tweet, a decimal string.
    #[serde(default)]
    pub tweet_id: Option<String>,
    /// `ACTIVE`, `PAUSED`, ...
    #[serde(default)]
    pub entity_status: Option<EntityStatus>,
    /// `ACCEPTED`, ...
    #[serde(default)]
    pub approval_status: Option<String>,
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

/// `POST /12/accounts/:id/promoted_tweets` parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromotedTweetsCreate {
    /// The line item.
    pub line_item_id: String,
    /// 1..=50 tweet ids.
    pub tweet_ids: Vec<String>,
}

impl ToParams for PromotedTweetsCreate {
    fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("line_item_id", self.line_item_id.clone())
            .list("tweet_ids", &self.tweet_ids);
        p
    }
}
