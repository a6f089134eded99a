//! Recovery: outbound writes left `pending`, `sent` or `unknown` by an execution that is gone (a
//! crash, or one that gave up unresolved) are reconciled with X — at start and every
//! `Leases::recovery_every`, on every instance.
//!
//! Only intents nobody holds are touched: their holder's lease lapsed on the database's clock
//! (rows written before leases existed: untouched for [`LEGACY_STALE_AFTER`]). Recovery takes
//! each under its own lease (a conditional update, so one instance does it), then for a create of
//! any kind — campaign, line item, promoted tweets, media library entry, targeting criterion —
//! rebuilds X's parameters from the intent and looks the entity up at X
//! ([`exactly_once::recover`]): found → the intent is `done` and a mirrored kind joins the
//! mirror; not found → `failed` (a retry of the dashboard request with the same
//! `Idempotency-Key` searches X again, then sends afresh). Updates and deletes are idempotent at
//! X: they are closed as `failed`, and the next mirror refresh shows X's state.

use chrono::Duration;

use super::exactly_once::{self, CreateAtX};
use super::{ManageError, Scope};
use crate::experiments::TargetingCreation;
use crate::media::LibraryEntryCreation;
use crate::services::Services;
use crate::store::entities::Entity;
use crate::store::x_writes::{self, Intent, WriteState};
use crate::x::XSession;

/// How old an open intent written before leases existed (no holder) must be before recovery
/// touches it (the old rule, kept for rows of instances not yet upgraded).
pub const LEGACY_STALE_AFTER: Duration = Duration::minutes(2);

/// What recovery did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Intents whose entity was found at X.
    pub found: usize,
    /// Creates X did not execute.
    pub not_found: usize,
    /// Intents that could not be checked now (no session, X down); retried at the next pass.
    pub deferred: usize,
}

/// Reconciles every open intent nobody holds.
pub async fn run(state: &Services) -> Result<Recovered, ManageError> {
    let now = state.clock.now();
    let lease = state.config.leases.x_write;
    let mut done = Recovered::default();
    for intent in x_writes::open_unheld(&state.db, now - LEGACY_STALE_AFTER).await? {
        let Some(tenant) = crate::store::tenants::get(&state.db, &intent.tenant_id).await? else {
            continue;
        };
        let holder = crate::store::new_id("xwr");
        if !x_writes::acquire(&state.db, &intent.id, &holder, lease).await? {
            // Another instance's recovery, or a retry of the request, took it first.
            continue;
        }
        let scope = Scope {
            state: state.clone(),
            tenant,
            account_id: intent.account_id.clone(),
            idem_key: None,
        };
        let outcome = recover_one(&scope, &intent, &holder).await;
        x_writes::release(&state.db, &intent.id, &holder).await?;
        match outcome {
            Ok(Some(true)) => {
                tracing::info!(intent.id = %intent.id, "recovered a write X had executed");
                done.found += 1;
            }
            Ok(Some(false)) => done.not_found += 1,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(intent.id = %intent.id, error = %e, "recovery deferred");
                done.deferred += 1;
            }
        }
    }
    Ok(done)
}

/// One intent, held by `holder`: `Some(found)` for a create, `None` for an update or delete.
async fn recover_one(
    scope: &Scope,
    intent: &Intent,
    holder: &str,
) -> Result<Option<bool>, ManageError> {
    use super::{campaigns, line_items, promoted_tweets};
    let op = intent.operation.as_str();
    let mirrored: Vec<Entity> = if op == campaigns::CampaignCreation::OPERATION {
        let found = look_up::<campaigns::CampaignCreation>(scope, intent, holder).await?;
        found
            .iter()
            .map(|c| campaigns::entity(scope, c, false))
            .collect()
    } else if op == line_items::LineItemCreation::OPERATION {
        let found = look_up::<line_items::LineItemCreation>(scope, intent, holder).await?;
        found
            .iter()
            .map(|l| line_items::entity(scope, l, false))
            .collect()
    } else if op == promoted_tweets::PromotedTweetsCreation::OPERATION {
        let found =
            look_up::<promoted_tweets::PromotedTweetsCreation>(scope, intent, holder).await?;
        found
            .iter()
            .flatten()
            .map(|p| promoted_tweets::entity(scope, p, false))
            .collect()
    } else if op == LibraryEntryCreation::OPERATION {
        // The media mirror catches up at its next read of X's library; a retried upload of the
        // file finds the intent done.
        let found = look_up::<LibraryEntryCreation>(scope, intent, holder).await?;
        return Ok(Some(found.is_some()));
    } else if op == TargetingCreation::OPERATION {
        // Targeting is not mirrored.
        let found = look_up::<TargetingCreation>(scope, intent, holder).await?;
        return Ok(Some(found.is_some()));
    } else {
        // Updates and deletes are idempotent at X; the next mirror refresh shows its state.
        x_writes::set_state(
            &scope.state.db,
            &intent.id,
            holder,
            WriteState::Failed,
            None,
            Some("left open by an execution that is gone; the next mirror refresh shows X's state"),
            scope.state.clock.now(),
        )
        .await?;
        return Ok(None);
    };
    if mirrored.is_empty() {
        return Ok(Some(false));
    }
    for e in &mirrored {
        scope.record(&intent.operation, e, None, None).await?;
    }
    Ok(Some(true))
}

/// The entity X made for `intent`, if any (the intent moved to `done` or `failed`).
async fn look_up<K: CreateAtX>(
    scope: &Scope,
    intent: &Intent,
    holder: &str,
) -> Result<Option<K::Entity>, ManageError> {
    let session = XSession::for_tenant(&scope.state, &intent.tenant_id).await?;
    Ok(exactly_once::recover::<K>(&scope.state, &session, intent, holder).await?)
}
