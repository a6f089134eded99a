//! Promoted tweets: a tweet attached to a line item.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::common::{EntityStatus, lenient_id, lenient_opt_id};
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
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub line_item_id: Option<String>,
    /// The tweet, a decimal string.
    #[serde(default, deserialize_with = "lenient_opt_id")]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// A tweet as `GET /12/accounts/:id/tweets` answers it: what a page shows of a creative (its
/// text and, where it has one, its first image). X sends far more; the rest is ignored.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Tweet {
    /// The tweet id, a decimal string.
    #[serde(default, deserialize_with = "lenient_opt_id")]
    pub id_str: Option<String>,
    /// The text.
    #[serde(default)]
    pub full_text: Option<String>,
    /// Hashtags, URLs, media: `media[0].media_url_https` is the first image.
    #[serde(default)]
    pub entities: Option<serde_json::Value>,
}

impl Tweet {
    /// The first image's URL, when the tweet has one.
    pub fn image_url(&self) -> Option<&str> {
        self.entities.as_ref()?["media"][0]["media_url_https"].as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_are_read_as_strings() {
        let p: PromotedTweet = serde_json::from_str(
            r#"{"id":"1e8i2k","line_item_id":"8v7jo","tweet_id":822333526255120384,"entity_status":"ACTIVE"}"#,
        )
        .unwrap();
        assert_eq!(p.tweet_id.as_deref(), Some("822333526255120384"));
        assert_eq!(p.entity_status, Some(EntityStatus::Active));
    }

    #[test]
    fn tweet_ids_are_comma_joined() {
        let p = PromotedTweetsCreate {
            line_item_id: "8v7jo".into(),
            tweet_ids: vec!["1".into(), "2".into()],
        }
        .to_params();
        assert_eq!(p.encode(), "line_item_id=8v7jo&tweet_ids=1%2C2");
    }

    #[test]
    fn a_tweet_reads_its_id_text_and_first_image_among_xs_many_fields() {
        let t: Tweet = serde_json::from_value(serde_json::json!({
            "id": 1_600_000_000_283_332_431_u64, "id_str": "1600000000283332431",
            "tweet_id": "1600000000283332431", "full_text": "Spring sale", "lang": "en",
            "entities": {"media": [{"media_url_https": "https://pbs.twimg.com/media/a.jpg"}]},
        }))
        .unwrap();
        assert_eq!(t.id_str.as_deref(), Some("1600000000283332431"));
        assert_eq!(t.full_text.as_deref(), Some("Spring sale"));
        assert_eq!(t.image_url(), Some("https://pbs.twimg.com/media/a.jpg"));
    }
}
