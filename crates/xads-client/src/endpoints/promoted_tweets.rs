//! Promoted tweets.

use super::{MAX_COUNT, Resource};
use crate::config::XAds;
use crate::envelope::XResponse;
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::models::{EntityStatus, MAX_TWEET_IDS, PromotedTweet, PromotedTweetsCreate};
use crate::params::{ListParams, Params};
use crate::request::CallOptions;

const PROMOTED_TWEETS: Resource = Resource {
    path: "promoted_tweets",
    read_family: EndpointFamily::CoreRead,
    max_count: MAX_COUNT,
    list: "list_promoted_tweets",
    get: "get_promoted_tweet",
    create: "create_promoted_tweets",
    update: "update_promoted_tweet",
    delete: "delete_promoted_tweet",
};

impl XAds {
    /// `GET /12/accounts/:id/promoted_tweets` (one page).
    pub async fn list_promoted_tweets(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<XResponse<Vec<PromotedTweet>>, XError> {
        self.res_list(&PROMOTED_TWEETS, account_id, params).await
    }

    /// All pages of promoted tweets.
    pub async fn list_all_promoted_tweets(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<Vec<PromotedTweet>, XError> {
        self.res_list_all(&PROMOTED_TWEETS, account_id, params)
            .await
    }

    /// `GET /12/accounts/:id/promoted_tweets/:id`.
    pub async fn get_promoted_tweet(
        &self,
        account_id: &str,
        promoted_tweet_id: &str,
        with_deleted: bool,
    ) -> Result<XResponse<PromotedTweet>, XError> {
        self.res_get(
            &PROMOTED_TWEETS,
            account_id,
            promoted_tweet_id,
            with_deleted,
        )
        .await
    }

    /// `POST /12/accounts/:id/promoted_tweets`: one promoted tweet per tweet id (1..=50).
    pub async fn create_promoted_tweets(
        &self,
        account_id: &str,
        create: &PromotedTweetsCreate,
        opts: &CallOptions,
    ) -> Result<XResponse<Vec<PromotedTweet>>, XError> {
        let n = create.tweet_ids.len();
        if n == 0 || n > MAX_TWEET_IDS {
            return Err(XError::Invalid {
                operation: PROMOTED_TWEETS.create,
                message: format!("tweet_ids must hold 1 to {MAX_TWEET_IDS} ids, got {n}"),
            });
        }
        self.res_create(&PROMOTED_TWEETS, account_id, create, opts)
            .await
    }

    /// `PUT /12/accounts/:id/promoted_tweets/:id` with `entity_status`. X's v12 reference says
    /// promoted tweets cannot be updated; X's refusal comes back as the error.
    pub async fn update_promoted_tweet(
        &self,
        account_id: &str,
        promoted_tweet_id: &str,
        entity_status: EntityStatus,
        opts: &CallOptions,
    ) -> Result<XResponse<PromotedTweet>, XError> {
        let mut params = Params::new();
        params.push("entity_status", entity_status.as_str());
        self.res_update(
            &PROMOTED_TWEETS,
            account_id,
            promoted_tweet_id,
            &params,
            opts,
        )
        .await
    }

    /// `DELETE /12/accounts/:id/promoted_tweets/:id` (the promoted tweet's id, not the tweet's).
    pub async fn delete_promoted_tweet(
        &self,
        account_id: &str,
        promoted_tweet_id: &str,
        opts: &CallOptions,
    ) -> Result<XResponse<PromotedTweet>, XError> {
        self.res_delete(&PROMOTED_TWEETS, account_id, promoted_tweet_id, opts)
            .await
    }
}
