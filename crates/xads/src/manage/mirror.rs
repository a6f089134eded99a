//! The local mirror of X's entities: filled at connect, refreshed by `?refresh=true` and by every
//! sync, so lists are fast and the UI works while X is slow or down. Dry-run entities live only
//! here, flagged `dry_run`.

use xads_client::ListParams;

use super::{ManageError, Scope, render};
use crate::store::entities::{self, Entity, Kind};
use crate::x::XSession;

/// Reads every entity of `kind` in the account from X (following cursors to the end) and stores
/// them; mirrored entities X no longer lists are marked deleted.
pub async fn refresh(scope: &Scope, session: &XSession, kind: Kind) -> Result<usize, ManageError> {
    let account = scope.account_id.clone();
    // X shows a deleted promoted tweet as paused (pause = DELETE), so those are listed too.
    let params = match kind {
        Kind::PromotedTweet => ListParams::new().count(1000).with_deleted(true),
        _ => ListParams::new().count(1000).with_draft(true),
    };
    let fresh: Vec<Entity> = match kind {
        Kind::Campaign => session
            .call(|x| {
                let (account, params) = (account.clone(), params.clone());
                async move { x.list_all_campaigns(&account, &params).await }
            })
            .await?
            .iter()
            .map(|c| Entity {
                kind,
                account_id: account.clone(),
                id: c.id.clone(),
                parent_id: None,
                dry_run: false,
                deleted: c.deleted,
                data: render::campaign(&account, c, false),
            })
            .collect(),
        Kind::LineItem => session
            .call(|x| {
                let (account, params) = (account.clone(), params.clone());
                async move { x.list_all_line_items(&account, &params).await }
            })
            .await?
            .iter()
            .map(|l| super::line_items::entity(scope, l, false))
            .collect(),
        Kind::PromotedTweet => session
            .call(|x| {
                let (account, params) = (account.clone(), params.clone());
                async move { x.list_all_promoted_tweets(&account, &params).await }
            })
            .await?
            .iter()
            .map(|p| Entity {
                kind,
                account_id: account.clone(),
                id: p.id.clone(),
                parent_id: p.line_item_id.clone(),
                dry_run: false,
                deleted: false,
                data: render::promoted_tweet(&account, p, false),
            })
            .collect(),
    };
    let db = &scope.state.db;
    entities::upsert_many(db, &scope.tenant.id, &fresh, scope.state.clock.now()).await?;
    let seen: Vec<String> = fresh.iter().map(|e| e.id.clone()).collect();
    entities::mark_missing_deleted(db, &scope.tenant.id, &scope.account_id, kind, &seen).await?;
    Ok(fresh.len())
}

/// Refreshes campaigns, line items and promoted tweets of the account.
pub async fn refresh_all(scope: &Scope) -> Result<usize, ManageError> {
    let session = scope.session().await?;
    let mut n = 0;
    for kind in [Kind::Campaign, Kind::LineItem, Kind::PromotedTweet] {
        n += refresh(scope, &session, kind).await?;
    }
    Ok(n)
}

/// A page of the mirror: the entities' stored API documents, and the cursor of the next page.
#[derive(Debug)]
pub struct EntityPage {
    /// The documents as the mirror stores them (JSON text written by `entities::upsert` from a
    /// `serde_json::Value`), joined by commas in the page's order: the inside of the list's
    /// `data` array, answered without parsing or copying (the hot path of every list; shared
    /// with the page cache).
    pub joined: bytes::Bytes,
    /// The cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

impl EntityPage {
    /// The documents, parsed.
    pub fn documents(&self) -> Result<Vec<serde_json::Value>, ManageError> {
        let mut array = Vec::with_capacity(self.joined.len() + 2);
        array.push(b'[');
        array.extend_from_slice(&self.joined);
        array.push(b']');
        serde_json::from_slice(&array)
            .map_err(|_| crate::db::DbError::Corrupt("mirror entity is not JSON").into())
    }
}

/// A page of the mirror's entities of `kind` (under `parent_id`), after `cursor`; `NotFound` when
/// the tenant has no such ad account (checked by the page's own query). Through the instance's
/// page cache (`entities::list_cached`): as new as the mirror when the request came.
pub async fn page(
    scope: &Scope,
    kind: Kind,
    parent_id: Option<&str>,
    cursor: Option<&str>,
    count: Option<u32>,
) -> Result<EntityPage, ManageError> {
    let after = super::paging::position(cursor)?;
    let count = super::paging::count(count)?;
    let found = entities::list_cached(
        &scope.state.db,
        &scope.state.mirror_pages,
        entities::PageOf {
            tenant_id: &scope.tenant.id,
            account_id: &scope.account_id,
            kind,
            parent_id,
            after,
            count,
        },
    )
    .await?;
    let Some(found) = &*found else {
        return Err(ManageError::NotFound("ad account"));
    };
    Ok(EntityPage {
        joined: found.joined.clone(),
        next_cursor: found.next.map(super::paging::position_cursor),
    })
}
