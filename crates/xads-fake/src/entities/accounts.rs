//! Accounts, funding instruments and promotable tweets (read-only here, as in production).

use axum::extract::Path;
use axum::response::Response;

use super::{Ctx, DEFAULT_LIST, account, find, ids_filter, page};
use crate::envelope::{collection, single};
use crate::model::{Account, FundingInstrument};

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

/// `GET /12/accounts/:account_id/tweets`: the account's promotable tweets (simplified shape).
pub async fn tweets(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    ctx.run(echo.clone(), |s| {
        account(s, &ctx.who, &account_id)?;
        let ids = ids_filter(&ctx.p, "tweet_ids")?;
        let data = s
            .tweets
            .iter()
            .filter(|t| t.account_id == account_id)
            .filter(|t| ids.as_ref().is_none_or(|ids| ids.contains(&t.id)))
            .map(|t| t.to_json())
            .collect();
        Ok(collection(echo, data, None, None))
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
