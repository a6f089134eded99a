//! Promoted tweets: list, get, attach (POST, array answer), delete; PUT is refused like X.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Ctx, DEFAULT_LIST, account, find, find_live_idx, ids_filter, page};
use crate::envelope::{ApiError, collection, single};
use crate::model::{PromotedTweet, Record, ServingLog};

/// `GET /12/accounts/:account_id/promoted_tweets`.
pub async fn list(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let ids = ids_filter(&ctx.p, "promoted_tweet_ids")?;
        let lis = ids_filter(&ctx.p, "line_item_ids")?;
        let with_deleted = ctx.p.flag("with_deleted")?;
        let items: Vec<&PromotedTweet> = s
            .promoted_tweets
            .iter()
            .filter(|t| t.account_id == account_id)
            .filter(|t| ids.as_ref().is_none_or(|ids| ids.contains(&t.id)))
            .filter(|t| lis.as_ref().is_none_or(|l| l.contains(&t.line_item_id)))
            // A deleted line item hides its promoted tweets unless with_deleted (no cascade).
            .filter(|t| {
                with_deleted
                    || s.line_items
                        .iter()
                        .any(|l| l.id == t.line_item_id && !l.deleted)
            })
            .collect();
        let pg = page(items, &ctx.p, &DEFAULT_LIST)?;
        Ok(collection(echo, pg.data, pg.next_cursor, pg.total_count))
    })
}

/// `GET /12/accounts/:account_id/promoted_tweets/:id`.
pub async fn get(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("promoted_tweet_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let t = find(
            &s.promoted_tweets,
            &account_id,
            &id,
            ctx.p.flag("with_deleted")?,
        )?;
        Ok(single(echo, t.to_json()))
    })
}

/// `POST /12/accounts/:account_id/promoted_tweets` (`line_item_id`, `tweet_ids` ≤ 50).
///
/// Re-posting a deleted promoted tweet to the same line item restores the same id (X's behaviour);
/// posting one that is attached and live answers the existing one.
pub async fn create(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let mut echo = ctx.p.echo(&[("account_id", &account_id)]);
    // X echoes tweet ids as numbers here (docs example).
    if let Some(ids) = echo.get_mut("tweet_ids").and_then(Value::as_array_mut) {
        for v in ids.iter_mut() {
            if let Some(n) = v.as_str().and_then(|s| s.parse::<u64>().ok()) {
                *v = json!(n);
            }
        }
    }
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let p = &ctx.p;
        let li = p.require("line_item_id")?.to_string();
        p.require("tweet_ids")?;
        let tweets = p.list("tweet_ids");
        if tweets.len() > 50 {
            return Err(ApiError::invalid(
                "tweet_ids",
                format!(
                    "Expected at most 50 items, got {} for tweet_ids",
                    tweets.len()
                ),
            ));
        }
        if !s
            .line_items
            .iter()
            .any(|l| l.account_id == account_id && l.id == li && !l.deleted)
        {
            return Err(ApiError::invalid(
                "line_item_id",
                format!("Line item {li} not found for account {account_id}"),
            ));
        }
        if let Some(bad) = tweets.iter().find(|t| {
            !s.tweets
                .iter()
                .any(|x| &x.id == *t && x.account_id == account_id)
        }) {
            return Err(ApiError::invalid(
                "tweet_ids",
                format!("Tweet {bad} cannot be promoted by account {account_id}"),
            ));
        }
        let now = s.clock.now();
        let mut data = Vec::new();
        for tweet in tweets {
            let existing = s.promoted_tweets.iter().position(|t| {
                t.account_id == account_id && t.line_item_id == li && t.tweet_id == tweet
            });
            let idx = match existing {
                Some(i) => {
                    let t = &mut s.promoted_tweets[i];
                    if t.deleted {
                        t.deleted = false;
                        t.updated_at = now;
                        t.serving.record(now, true);
                    }
                    i
                }
                None => {
                    let id = s.ids.entity();
                    s.promoted_tweets.push(PromotedTweet {
                        id,
                        account_id: account_id.clone(),
                        line_item_id: li.clone(),
                        tweet_id: tweet,
                        entity_status: "ACTIVE".into(),
                        created_at: now,
                        updated_at: now,
                        deleted: false,
                        serving: ServingLog::starting(now, true),
                    });
                    s.promoted_tweets.len() - 1
                }
            };
            data.push(s.promoted_tweets[idx].to_json());
        }
        let n = data.len();
        Ok(axum::response::IntoResponse::into_response(axum::Json(
            json!({ "data": data, "request": { "params": echo }, "total_count": n }),
        )))
    })
}

/// `PUT …/promoted_tweets/:id`: X's v12 reference says promoted tweets cannot be updated.
pub async fn update(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("promoted_tweet_id", &id), ("account_id", &account_id)]);
    ctx.run(echo, |s| {
        account(s, &ctx.who, &account_id)?;
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "It is not possible to update (PUT) promoted Tweet entities",
            None,
        ))
    })
}

/// `DELETE …/promoted_tweets/:id` (the promoted tweet id, not the tweet id).
pub async fn delete(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("promoted_tweet_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let idx = find_live_idx(&s.promoted_tweets, &account_id, &id)?;
        let now = s.clock.now();
        let t = &mut s.promoted_tweets[idx];
        t.mark_deleted(now);
        Ok(single(echo, t.to_json()))
    })
}
