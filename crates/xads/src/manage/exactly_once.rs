//! Exactly-once writes to X (PRODUCT.md §4.5).
//!
//! X documents no idempotency header, so the key we send is only a label. What makes a create
//! happen once is this protocol:
//!
//! 1. Record the intent (`x_writes`, keyed by an id derived from the dashboard's own
//!    `Idempotency-Key` when there is one, so a retried request finds the same intent).
//! 2. Mark it `sent`, then call X.
//! 3. Success → `done` with the entity id. A refusal (4xx) → `failed`.
//! 4. An ambiguous failure (timeout, dropped connection, 5xx) → `unknown`; then **look for the
//!    entity the call may have created** (the kind's `find`: same parameters, created after the
//!    intent, not claimed by another intent). Found → `done`. Not found → send again (at most
//!    [`MAX_SENDS`] sends per intent).
//! 5. An intent found `sent`/`unknown` at the start (a crash, or a request retried after a lost
//!    answer) is reconciled the same way before anything is sent.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use xads_client::{CallOptions, XAds, XError, XResponse};

use crate::services::Services;
use crate::store::x_writes::{self, Intent, WriteState};
use crate::x::{XSession, XSessionError};

/// Most sends of one intent (the first and two after ambiguous failures).
pub const MAX_SENDS: i32 = 3;
/// How far before the intent an entity's `created_at` may be and still match (clock skew).
const CREATED_SKEW: Duration = Duration::minutes(5);

/// What a create produced: X's answer to our call, the entity reconciliation found, or the one an
/// earlier execution of the same intent made (read back from X).
#[derive(Debug)]
pub struct Created<T> {
    /// The entity.
    pub entity: T,
    /// X's request id, when we have its answer.
    pub request_id: Option<String>,
}

/// A failed write.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// No session, or X refused.
    #[error(transparent)]
    Session(#[from] XSessionError),
    /// Every send was ambiguous and reconciliation found nothing: X's state is unknown.
    #[error(
        "X Ads {operation}: no answer from X after {sends} attempts and the entity was not found; it was not created"
    )]
    Unresolved {
        /// The operation.
        operation: &'static str,
        /// How many sends were made.
        sends: i32,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl WriteError {
    /// The text a client may be shown (see [`XSessionError::public_message`]).
    pub fn public_message(&self) -> String {
        match self {
            WriteError::Session(s) => s.public_message(),
            WriteError::Db(d) => d.public_message(),
            other => other.to_string(),
        }
    }
}

/// The id of the intent for one step of a dashboard request: deterministic when the request came
/// with an `Idempotency-Key` (a retry finds the same intent), random otherwise.
pub fn intent_id(tenant_id: &str, inbound_key: Option<&str>, step: &str) -> String {
    match inbound_key {
        Some(key) => {
            let digest = Sha256::digest(format!("{tenant_id}\n{key}\n{step}").as_bytes());
            format!("xw_{}", &hex::encode(digest)[..32])
        }
        None => crate::store::new_id("xw"),
    }
}

/// Records an intent (or finds the one an earlier attempt recorded under the same id).
async fn open_intent(
    state: &Services,
    tenant_id: &str,
    account_id: &str,
    operation: &str,
    id: String,
    request: serde_json::Value,
    entity_id: Option<&str>,
) -> Result<Intent, WriteError> {
    let now = state.clock.now();
    let intent = Intent {
        id,
        tenant_id: tenant_id.to_owned(),
        account_id: account_id.to_owned(),
        operation: operation.to_owned(),
        request,
        state: WriteState::Pending,
        attempts: 0,
        entity_id: entity_id.map(str::to_owned),
        created_at: now,
    };
    Ok(x_writes::record(&state.db, &intent, now).await?)
}

/// Runs a create exactly once. `send` makes the call; `find` lists entities that match the
/// request and were created at or after the given instant, newest first; `fetch` reads the entity
/// an earlier execution recorded, by id.
#[allow(clippy::too_many_arguments)]
pub async fn create<T, S, SF, F, FF, G, GF>(
    state: &Services,
    session: &XSession,
    tenant_id: &str,
    account_id: &str,
    operation: &'static str,
    intent_id: String,
    request: serde_json::Value,
    send: S,
    find: F,
    fetch: G,
    id_of: fn(&T) -> &str,
) -> Result<Created<T>, WriteError>
where
    S: Fn(XAds, CallOptions) -> SF,
    SF: Future<Output = Result<XResponse<T>, XError>>,
    F: Fn(XAds, DateTime<Utc>) -> FF,
    FF: Future<Output = Result<Vec<T>, XError>>,
    G: Fn(XAds, String) -> GF,
    GF: Future<Output = Result<T, XError>>,
{
    let db = &state.db;
    let intent = open_intent(
        state, tenant_id, account_id, operation, intent_id, request, None,
    )
    .await?;
    match intent.state {
        WriteState::Done => {
            if let Some(id) = intent.entity_id {
                let entity = session.call(|x| fetch(x, id.clone())).await?;
                return Ok(Created {
                    entity,
                    request_id: None,
                });
            }
        }
        WriteState::Sent | WriteState::Unknown => {
            if let Some(found) = reconcile(state, session, &intent, &find, id_of).await? {
                return Ok(found);
            }
        }
        // An earlier execution gave up after ambiguous sends: a late commit may have landed since.
        WriteState::Failed if intent.attempts > 0 => {
            if let Some(found) = reconcile(state, session, &intent, &find, id_of).await? {
                return Ok(found);
            }
        }
        WriteState::Pending | WriteState::Failed => {}
    }
    // The budget is per execution: a dashboard retry (same key) after an unresolved execution
    // gets its own sends, after the reconciliation above found nothing. Counting the intent's
    // lifetime sends instead made such a key fail forever once X had had one bad minute.
    let mut sends = 0;
    loop {
        if sends >= MAX_SENDS {
            x_writes::set_state(
                db,
                &intent.id,
                WriteState::Failed,
                None,
                Some("no answer from X; entity not found"),
                state.clock.now(),
            )
            .await?;
            return Err(WriteError::Unresolved { operation, sends });
        }
        x_writes::set_state(
            db,
            &intent.id,
            WriteState::Sent,
            None,
            None,
            state.clock.now(),
        )
        .await?;
        sends += 1;
        let opts = CallOptions::idempotency_key(intent.id.clone());
        let result = session.call(|x| send(x, opts.clone())).await;
        match result {
            Ok(resp) => {
                let id = id_of(&resp.data).to_owned();
                x_writes::set_state(
                    db,
                    &intent.id,
                    WriteState::Done,
                    Some(&id),
                    None,
                    state.clock.now(),
                )
                .await?;
                return Ok(Created {
                    entity: resp.data,
                    request_id: resp.request_id,
                });
            }
            Err(XSessionError::X(e)) if e.is_ambiguous() => {
                tracing::warn!(x.operation = operation, intent.id = %intent.id, error = %e, "ambiguous failure; reconciling before any retry");
                x_writes::set_state(
                    db,
                    &intent.id,
                    WriteState::Unknown,
                    None,
                    Some(&e.to_string()),
                    state.clock.now(),
                )
                .await?;
                if let Some(found) = reconcile(state, session, &intent, &find, id_of).await? {
                    return Ok(found);
                }
            }
            Err(e) => {
                x_writes::set_state(
                    db,
                    &intent.id,
                    WriteState::Failed,
                    None,
                    Some(&e.to_string()),
                    state.clock.now(),
                )
                .await?;
                return Err(e.into());
            }
        }
    }
}

/// Looks for the entity an earlier send of `intent` may have created; records it when found.
async fn reconcile<T, F, FF>(
    state: &Services,
    session: &XSession,
    intent: &Intent,
    find: &F,
    id_of: fn(&T) -> &str,
) -> Result<Option<Created<T>>, WriteError>
where
    F: Fn(XAds, DateTime<Utc>) -> FF,
    FF: Future<Output = Result<Vec<T>, XError>>,
{
    let since = intent.created_at - CREATED_SKEW;
    let candidates = session.call(|x| find(x, since)).await?;
    for entity in candidates {
        let id = id_of(&entity).to_owned();
        if x_writes::entity_claimed(
            &state.db,
            &intent.tenant_id,
            &intent.operation,
            &id,
            &intent.id,
        )
        .await?
        {
            continue;
        }
        tracing::info!(x.operation = %intent.operation, intent.id = %intent.id, entity.id = %id, "reconciled: X had executed the write");
        x_writes::set_state(
            &state.db,
            &intent.id,
            WriteState::Done,
            Some(&id),
            None,
            state.clock.now(),
        )
        .await?;
        return Ok(Some(Created {
            entity,
            request_id: None,
        }));
    }
    Ok(None)
}

/// Runs an update or delete, recorded like a create. These are idempotent at X (a PUT sets the
/// same fields again; a repeated DELETE finds the entity gone), so ambiguous failures are simply
/// retried by the client.
#[allow(clippy::too_many_arguments)]
pub async fn tracked<T, S, SF>(
    state: &Services,
    session: &XSession,
    tenant_id: &str,
    account_id: &str,
    operation: &'static str,
    intent_id: String,
    entity_id: &str,
    request: serde_json::Value,
    send: S,
) -> Result<XResponse<T>, WriteError>
where
    S: Fn(XAds, CallOptions) -> SF,
    SF: Future<Output = Result<XResponse<T>, XError>>,
{
    let db = &state.db;
    let intent = open_intent(
        state,
        tenant_id,
        account_id,
        operation,
        intent_id,
        request,
        Some(entity_id),
    )
    .await?;
    x_writes::set_state(
        db,
        &intent.id,
        WriteState::Sent,
        Some(entity_id),
        None,
        state.clock.now(),
    )
    .await?;
    let opts = CallOptions::idempotency_key(intent.id.clone()).retry_ambiguous(true);
    match session.call(|x| send(x, opts.clone())).await {
        Ok(resp) => {
            x_writes::set_state(
                db,
                &intent.id,
                WriteState::Done,
                None,
                None,
                state.clock.now(),
            )
            .await?;
            Ok(resp)
        }
        Err(e) => {
            let ambiguous = matches!(&e, XSessionError::X(x) if x.is_ambiguous());
            let st = if ambiguous {
                WriteState::Unknown
            } else {
                WriteState::Failed
            };
            x_writes::set_state(
                db,
                &intent.id,
                st,
                None,
                Some(&e.to_string()),
                state.clock.now(),
            )
            .await?;
            Err(e.into())
        }
    }
}
