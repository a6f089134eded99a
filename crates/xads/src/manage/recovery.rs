//! Recovery on start: outbound writes left `pending`, `sent` or `unknown` by a crash (or a lost
//! answer nobody retried) are reconciled with X.
//!
//! For a create whose request we can rebuild, the entity it may have made is looked up (as
//! [`super::exactly_once`] does after an ambiguous failure): found → the intent is `done` and the
//! entity joins the mirror; not found → the intent is `failed` (X did not execute it, so a retry
//! of the dashboard request with the same `Idempotency-Key` sends it afresh). Updates and deletes
//! are idempotent at X and only marked, and the next mirror refresh shows X's state. Only intents
//! older than [`STALE_AFTER`] are touched, so another instance's in-flight write is left alone.

use chrono::Duration;

use super::{ManageError, Scope};
use crate::services::Services;
use crate::store::x_writes::{self, WriteState};
use crate::x::XSession;

/// How old an open intent must be before recovery touches it (longer than an inbound lease).
pub const STALE_AFTER: Duration = Duration::minutes(2);

/// What recovery did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Intents whose entity was found at X.
    pub found: usize,
    /// Creates X did not execute.
    pub not_found: usize,
    /// Intents that could not be checked now (no session, X down); retried at the next start.
    pub deferred: usize,
}

/// Reconciles every stale open intent.
pub async fn run(state: &Services) -> Result<Recovered, ManageError> {
    let now = state.clock.now();
    let mut done = Recovered::default();
    for intent in x_writes::open_before(&state.db, now - STALE_AFTER).await? {
        let Some(tenant) = crate::store::tenants::get(&state.db, &intent.tenant_id).await? else {
            continue;
        };
        let scope = Scope {
            state: state.clone(),
            tenant,
            account_id: intent.account_id.clone(),
            idem_key: None,
        };
        let session = match XSession::for_tenant(state, &intent.tenant_id).await {
            Ok(s) => s,
            Err(_) => {
                done.deferred += 1;
                continue;
            }
        };
        let since = intent.created_at - Duration::minutes(5);
        let found = match intent.operation.as_str() {
            "create_campaign" => {
                super::campaigns::recover(&scope, &session, &intent.request, since).await
            }
            _ => {
                // Updates/deletes are idempotent; experiment steps are resumed by `start`.
                x_writes::set_state(
                    &state.db,
                    &intent.id,
                    WriteState::Unknown,
                    None,
                    Some("left open by a restart"),
                    now,
                )
                .await?;
                continue;
            }
        };
        match found {
            Ok(Some(entity))
                if !x_writes::entity_claimed(
                    &state.db,
                    &intent.tenant_id,
                    &intent.operation,
                    &entity.id,
                    &intent.id,
                )
                .await? =>
            {
                x_writes::set_state(
                    &state.db,
                    &intent.id,
                    WriteState::Done,
                    Some(&entity.id),
                    None,
                    now,
                )
                .await?;
                scope.record(&intent.operation, &entity, None, None).await?;
                tracing::info!(intent.id = %intent.id, entity.id = %entity.id, "recovered a write X had executed");
                done.found += 1;
            }
            Ok(_) => {
                x_writes::set_state(
                    &state.db,
                    &intent.id,
                    WriteState::Failed,
                    None,
                    Some("not found at X after a restart"),
                    now,
                )
                .await?;
                done.not_found += 1;
            }
            Err(e) => {
                tracing::warn!(intent.id = %intent.id, error = %e, "recovery deferred");
                done.deferred += 1;
            }
        }
    }
    Ok(done)
}
