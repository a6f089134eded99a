//! Accounts, funding instruments and promotable tweets (read-only here, as in production).

use axum::extract::Path;
use axum::response::Response;

use super::{Ctx, DEFAULT_LIST, account, find, ids_filter, one_of, page, page_by};
use crate::envelope::{Params, collection, single};
use crate::model::{Account, FundingInstrument, Tweet};

/// `GET /12/accounts`.
pub async fn list(ctx: Ctx) -> Response {
    let echo = ctx.p.echo(&[]);
    ctx.run(echo.clone(), |s| {
        let ids = ids_filter(&ctx.p, "account_ids")?;
        // Accounts' `q` is a case-insensitive prefix match.
        let q = ctx.p.get("q").map(str::to_lowercase);
        let items: Vec<&Account> = s
            .accounts
            .iter()
            .filter(|a| a.owner_user_id == ctx.who.user_id)
            .filter(|a| ids.as_ref().is_none_or(|ids| ids.contains(&a.id)))
            .filter(|a| {
                q.as_ref()
                    .is_none_or(|q| a.name.to_lowercase().starts_with(q.as_str()))
            })
            .collect();
        let mut p = ctx.p.clone();
        if q.is_some() {
            p = crate::envelope::Params::new(
                p.pairs()
                    .iter()
                    .filter(|(k, _)| k != "q")
                    .cloned()
                    .collect(),
            );
        }
        let pg = page(items, &p, &DEFAULT_LIST)?;
        Ok(collection(echo, pg.data, pg.next_cursor, pg.total_count))
    })
}

/// `GET /12/accounts/:account_id`.
pub async fn get(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        let a = account(s, &ctx.who, &account_id)?;
        Ok(single(echo, a.to_json()))
    })
}

/// `GET /12/accounts/:account_id/funding_instruments`.
pub async fn list_funding(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let ids = ids_filter(&ctx.p, "funding_instrument_ids")?;
        let items: Vec<&FundingInstrument> = s
            .funding
            .iter()
            .filter(|f| f.account_id == account_id)
            .filter(|f| ids.as_ref().is_none_or(|ids| ids.contains(&f.id)))
            .collect();
        let pg = page(items, &ctx.p, &DEFAULT_LIST)?;
        Ok(collection(echo, pg.data, pg.next_cursor, pg.total_count))
    })
}

/// `GET /12/accounts/:account_id/funding_instruments/:id`.
pub async fn get_funding(ctx: Ctx, Path((account_id, id)): Path<(String, String)>) -> Response {
    let echo = ctx
        .p
        .echo(&[("funding_instrument_id", &id), ("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let with_deleted = ctx.p.flag("with_deleted")?;
        let f = find(&s.funding, &account_id, &id, with_deleted)?;
        Ok(single(echo, f.to_json()))
    })
}

/// `GET /12/accounts/:account_id/tweets`: the account's promotable tweets. `tweet_type` is
/// required (the fake's tweets are all `PUBLISHED`, nullcasted, by the account's owner);
/// `count`/`cursor` page them, `timeline_type`, `user_id`, `name` and `tweet_ids` filter them,
/// `trim_user` keeps only the author's ids.
pub async fn tweets(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        let owner = account(s, &ctx.who, &account_id)?.owner_user_id.clone();
        let p = &ctx.p;
        p.require("tweet_type")?;
        let tweet_type = one_of(p, "tweet_type", &["DRAFT", "PUBLISHED", "SCHEDULED"])?;
        let timeline = one_of(p, "timeline_type", &["ALL", "NULLCAST", "ORGANIC"])?
            .unwrap_or_else(|| "NULLCAST".into());
        let trim_user = p.flag("trim_user")?;
        p.flag("include_mentions_and_replies")?;
        let name = super::text(p, "name", 80)?.filter(|n| !n.is_empty());
        let user = p.int("user_id")?;
        let ids = ids_filter(p, "tweet_ids")?;
        let origin = s.media_origin.clone();
        let screen_name = if owner == s.seed.user_id {
            s.seed.screen_name.clone()
        } else {
            format!("user_{owner}")
        };
        let items: Vec<&Tweet> = s
            .tweets
            .iter()
            .filter(|t| t.account_id == account_id)
            .filter(|_| tweet_type.as_deref() == Some("PUBLISHED"))
            // Every fake tweet is nullcasted (promoted-only).
            .filter(|_| timeline != "ORGANIC")
            // Fake tweets have no name, so a name filter matches none of them.
            .filter(|_| name.is_none())
            .filter(|_| user.is_none_or(|u| u.to_string() == owner))
            .filter(|t| ids.as_ref().is_none_or(|ids| ids.contains(&t.id)))
            .collect();
        // Only the paging parameters go to the shared pager (it also knows `q`, `sort_by`…).
        let paging = Params::new(
            p.pairs()
                .iter()
                .filter(|(k, _)| k == "count" || k == "cursor")
                .cloned()
                .collect(),
        );
        let pg = page_by(items, &paging, &DEFAULT_LIST, |t| {
            t.to_json(&owner, &screen_name, trim_user, origin.as_deref())
        })?;
        Ok(collection(echo, pg.data, pg.next_cursor, None))
    })
}

/// `GET /12/accounts/:account_id/authenticated_user_access`: the caller's permissions.
pub async fn user_access(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        Ok(single(
            echo,
            serde_json::json!({
                "user_id": ctx.who.user_id,
                "permissions": ["ACCOUNT_ADMIN", "TWEET_COMPOSER"],
            }),
        ))
    })
}

/// `GET /12/line_items/placements?product_type=`: valid placement combinations.
pub async fn placements(ctx: Ctx) -> Response {
    let echo = ctx.p.echo(&[]);
    ctx.run(echo.clone(), |_| {
        let product = super::one_of(&ctx.p, "product_type", super::line_items::PRODUCT_TYPES)?;
        let combos = serde_json::json!([
            ["ALL_ON_TWITTER"],
            ["PUBLISHER_NETWORK"],
            ["ALL_ON_TWITTER", "PUBLISHER_NETWORK"],
            ["TWITTER_PROFILE"],
            ["TWITTER_REPLIES"],
            ["TWITTER_SEARCH"],
            ["TWITTER_TIMELINE"],
        ]);
        let data = super::line_items::PRODUCT_TYPES
            .iter()
            .filter(|p| product.as_deref().is_none_or(|want| want == **p))
            .map(|p| serde_json::json!({ "product_type": p, "placements": combos }))
            .collect();
        Ok(collection(echo, data, None, None))
    })
}
