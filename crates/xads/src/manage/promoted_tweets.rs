//! Promoted tweets: attach tweets to a line item, pause/resume, delete.
//!
//! X's v12 reference refuses PUT on promoted tweets, so pause falls back to DELETE (ads.x.com shows
//! a deleted promoted tweet as paused) and resume to re-POSTing the same tweet to the same line
//! item, which makes X restore the same id. Answers say which way it went (`paused_via`).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use xads_client::models::{EntityStatus, PromotedTweet, PromotedTweetsCreate};
use xads_client::{CallOptions, ListParams, XAds, XError, XResponse};

use super::exactly_once::{self, WriteError};
use super::input::{self, Invalid, PromotedTweetPatch, PromotedTweetsInput};
use super::{Attached, Created, ManageError, Paused, PausedVia, Scope, dry_id, render};
use crate::store::entities::{Entity, Kind};
use crate::x::XSessionError;

const KIND: Kind = Kind::PromotedTweet;

pub(crate) fn entity(scope: &Scope, p: &PromotedTweet, dry_run: bool) -> Entity {
    Entity {
        kind: KIND,
        account_id: scope.account_id.clone(),
        id: p.id.clone(),
        parent_id: p.line_item_id.clone(),
        dry_run,
        deleted: false,
        data: render::promoted_tweet(&scope.account_id, p, dry_run),
    }
}

/// `POST …/promoted_tweets`: one promoted tweet per tweet id.
pub async fn create(scope: &Scope, body: &Value) -> Result<Created<Attached>, ManageError> {
    let input = input::parse::<PromotedTweetsInput>(body)?.validate()?;
    scope.check_account().await?;
    attach(scope, &input, body, "create_promoted_tweets").await
}

/// Attaches validated tweets to a line item (experiments attach one per variant).
pub async fn attach(
    scope: &Scope,
    input: &PromotedTweetsInput,
    request: &Value,
    step: &str,
) -> Result<Created<Attached>, ManageError> {
    let line_item = scope
        .entity(Kind::LineItem, &input.line_item_id, "line item")
        .await
        .map_err(|_| Invalid {
            field: "line_item_id".into(),
            message: format!(
                "line item {} not found in this ad account",
                input.line_item_id
            ),
        })?;
    let mut made = Vec::new();
    if !scope.live() || line_item.dry_run {
        if scope.live() {
            return Err(Invalid {
                field: "line_item_id".into(),
                message: "is a dry-run line item, which X has never seen".into(),
            }
            .into());
        }
        let now = scope.state.clock.now();
        for tweet in &input.tweet_ids {
            let p: PromotedTweet = serde_json::from_value(json!({
                "id": dry_id(), "line_item_id": input.line_item_id, "tweet_id": tweet,
                "entity_status": "ACTIVE", "approval_status": "ACCEPTED",
                "created_at": now, "updated_at": now, "deleted": false,
            }))
            .expect("a dry-run promoted tweet is a valid wire object");
            let e = entity(scope, &p, true);
            scope
                .record("create_promoted_tweet", &e, None, None)
                .await?;
            made.push(e);
        }
    } else {
        let session = scope.session().await?;
        let req = PromotedTweetsCreate {
            line_item_id: input.line_item_id.clone(),
            tweet_ids: input.tweet_ids.clone(),
        };
        let created = exactly_once::create(
            &scope.state,
            &session,
            scope.write_request(scope.intent_id(step), request.clone()),
            &PromotedTweetsCreation {
                account: scope.account_id.clone(),
                req,
            },
        )
        .await?;
        let (tweets, request_id) = (created.entity, created.request_id);
        for p in &tweets {
            let e = entity(scope, p, false);
            scope
                .record("create_promoted_tweet", &e, None, request_id.as_deref())
                .await?;
            made.push(e);
        }
    }
    Ok(Created(Attached(made)))
}

/// Promoted tweets to create at X: one call makes one per tweet (the exactly-once protocol's view).
pub(crate) struct PromotedTweetsCreation {
    account: String,
    req: PromotedTweetsCreate,
}

impl exactly_once::CreateAtX for PromotedTweetsCreation {
    type Entity = Vec<PromotedTweet>;
    type Request = PromotedTweetsCreate;
    const OPERATION: &'static str = "create_promoted_tweets";

    fn new(account: String, req: PromotedTweetsCreate) -> Self {
        PromotedTweetsCreation { account, req }
    }

    fn request(&self) -> &PromotedTweetsCreate {
        &self.req
    }

    async fn send(
        &self,
        x: XAds,
        opts: CallOptions,
    ) -> Result<XResponse<Vec<PromotedTweet>>, XError> {
        x.create_promoted_tweets(&self.account, &self.req, &opts)
            .await
    }

    /// The line item's promoted tweets for every requested tweet, if X has them all (at most one
    /// answer: what one call made).
    async fn find(
        &self,
        x: XAds,
        _since: DateTime<Utc>,
    ) -> Result<Vec<Vec<PromotedTweet>>, XError> {
        Ok(find(&x, &self.account, &self.req)
            .await?
            .into_iter()
            .collect())
    }

    /// Re-POSTing restores, so the earlier execution's tweets are found by tweet id.
    async fn fetch(&self, x: XAds, _id: String) -> Result<Vec<PromotedTweet>, XError> {
        Ok(find(&x, &self.account, &self.req)
            .await?
            .unwrap_or_default())
    }

    fn id(made: &Vec<PromotedTweet>) -> &str {
        made.first().map(|p| p.id.as_str()).unwrap_or("")
    }
}

/// The promoted tweets of `req.line_item_id` for all of `req.tweet_ids`, if X has them all.
async fn find(
    x: &xads_client::XAds,
    account: &str,
    req: &PromotedTweetsCreate,
) -> Result<Option<Vec<PromotedTweet>>, XError> {
    let all = x
        .list_all_promoted_tweets(
            account,
            &ListParams::new()
                .ids("line_item_ids", [req.line_item_id.clone()])
                .count(1000),
        )
        .await?;
    let found: Vec<PromotedTweet> = req
        .tweet_ids
        .iter()
        .filter_map(|t| {
            all.iter()
                .find(|p| p.tweet_id.as_deref() == Some(t.as_str()))
                .cloned()
        })
        .collect();
    Ok((found.len() == req.tweet_ids.len()).then_some(found))
}

/// `PATCH …/promoted_tweets/{id}` with `{"paused": bool}`.
pub async fn set_paused(scope: &Scope, id: &str, body: &Value) -> Result<Paused, ManageError> {
    scope.check_account().await?;
    let current = scope.entity(KIND, id, "promoted tweet").await?;
    let patch = input::parse::<PromotedTweetPatch>(body)?;
    let action = if patch.paused {
        "pause_promoted_tweet"
    } else {
        "resume_promoted_tweet"
    };
    let mut next = current.clone();
    next.data["paused"] = json!(patch.paused);
    if current.dry_run || !scope.live() {
        next.data["dry_run"] = json!(true);
        // The mirror keeps `paused_via` too: later reads show how the last change went.
        next.data["paused_via"] = json!(PausedVia::Put.as_str());
        if current.dry_run {
            scope
                .record(action, &next, Some(&current.data), None)
                .await?;
        }
        return Ok(Paused {
            entity: next,
            via: PausedVia::Put,
        });
    }
    let session = scope.session().await?;
    let account = scope.account_id.clone();
    let status = if patch.paused {
        EntityStatus::Paused
    } else {
        EntityStatus::Active
    };
    // First the documented-but-unconfirmed PUT; X refusing it (405/400/403) means: use DELETE/POST.
    let put = exactly_once::tracked(
        &scope.state,
        &session,
        scope.write_request(scope.intent_id(&format!("{action}:put:{id}")), body.clone()),
        "update_promoted_tweet",
        id,
        |x, opts| {
            let (account, id, status) = (account.clone(), id.to_owned(), status.clone());
            async move { x.update_promoted_tweet(&account, &id, status, &opts).await }
        },
    )
    .await;
    let via = match put {
        Ok(resp) => {
            next = entity(scope, &resp.data, false);
            PausedVia::Put
        }
        Err(WriteError::Session(XSessionError::X(e)))
            if matches!(e.status(), Some(400 | 403 | 405)) =>
        {
            if patch.paused {
                super::delete_at_x(
                    scope,
                    &session,
                    &current,
                    action,
                    |x, account, id, opts| async move {
                        x.delete_promoted_tweet(&account, &id, &opts)
                            .await
                            .map(|_| ())
                    },
                )
                .await?;
                next.data["paused"] = json!(true);
            } else {
                let tweet_id = current.data["tweet_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let line_item_id = current.parent_id.clone().unwrap_or_default();
                let Created(attached) = attach(
                    scope,
                    &PromotedTweetsInput {
                        line_item_id,
                        tweet_ids: vec![tweet_id],
                    },
                    body,
                    &format!("{action}:post:{id}"),
                )
                .await?;
                let restored = attached
                    .first()
                    .map(|e| e.data.clone())
                    .unwrap_or(Value::Null);
                if restored["id"] != json!(id) {
                    // X gave a new id: the old one stays deleted, the new one carries on.
                    let mut old = current.clone();
                    old.deleted = true;
                    old.data["deleted"] = json!(true);
                    scope
                        .record("replace_promoted_tweet", &old, Some(&current.data), None)
                        .await?;
                }
                next.data = restored;
            }
            PausedVia::Delete
        }
        Err(e) => return Err(e.into()),
    };
    next.data["paused_via"] = json!(via.as_str());
    if next.data["id"] == json!(id) {
        scope
            .record(action, &next, Some(&current.data), None)
            .await?;
    }
    Ok(Paused { entity: next, via })
}

/// `DELETE …/promoted_tweets/{id}`.
pub async fn delete(scope: &Scope, id: &str) -> Result<Entity, ManageError> {
    scope.check_account().await?;
    let current = scope.entity(KIND, id, "promoted tweet").await?;
    super::delete_entity(
        scope,
        current,
        "delete_promoted_tweet",
        |x, account, id, opts| async move {
            x.delete_promoted_tweet(&account, &id, &opts)
                .await
                .map(|_| ())
        },
    )
    .await
}
