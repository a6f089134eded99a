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
//!    intent, not claimed by another intent). Found → `done`. Not found → X may still be
//!    committing it: **look again after a pause** (`Leases::recheck_after`), and only then send
//!    again (at most [`MAX_SENDS`] sends per execution). Still nothing after the last send → the
//!    intent stays `unknown` and the caller is told it is unknown whether X created it.
//! 5. An intent found `sent`/`unknown` at the start (a crash, or a request retried after a lost
//!    answer) is reconciled the same way before anything is sent.
//!
//! The execution holds its intent under a lease (a holder token, `Leases::x_write` on the
//! database's clock) renewed while it runs — however long X or the limiter keeps a call — and
//! released at the end. Another execution of the same intent (a retry on another instance)
//! gets [`WriteError::InFlight`] while the lease is alive; recovery takes only lapsed ones.
//!
//! Each kind of entity X creates implements [`CreateAtX`] once (send, find after an ambiguous
//! failure, fetch by id, the id of an entity); [`create`] runs the protocol for any of them, given
//! a [`WriteRequest`] (who, which intent, what the intent records).

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
pub struct CreatedAtX<T> {
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
        "X Ads {operation}: no answer from X after {sends} attempts, and the entity was not found at X when looked for; it is unknown whether X created it (retry with the same Idempotency-Key: X is searched again before anything is sent)"
    )]
    Unresolved {
        /// The operation.
        operation: &'static str,
        /// How many sends were made.
        sends: i32,
    },
    /// Another execution (a retry on another instance) holds this write's intent right now.
    #[error("X Ads {operation}: this write is still being executed by another request")]
    InFlight {
        /// The operation.
        operation: &'static str,
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

/// One kind of entity X creates (campaign, line item, promoted tweets, media library entry, …),
/// as the exactly-once protocol needs it. A value carries the account and the request to X.
pub trait CreateAtX: Sized {
    /// What X answers: the entity (for promoted tweets, the list one call makes).
    type Entity: Send;
    /// X's parameters of the create (recorded in the intent, so recovery can rebuild it).
    type Request: serde::Serialize + serde::de::DeserializeOwned;
    /// Our name of the create (`create_campaign`): recorded in the intent and logged.
    const OPERATION: &'static str;

    /// Sends the create (`opts` carries the intent's id as X's `Idempotency-Key` label).
    fn send(
        &self,
        x: XAds,
        opts: CallOptions,
    ) -> impl Future<Output = Result<XResponse<Self::Entity>, XError>> + Send;

    /// Entities at X that match this request and were created at or after `since`, newest
    /// first: what a send whose answer was lost may have made.
    fn find(
        &self,
        x: XAds,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Self::Entity>, XError>> + Send;

    /// The entity an earlier execution of the same intent made, read back by its recorded id.
    fn fetch(
        &self,
        x: XAds,
        id: String,
    ) -> impl Future<Output = Result<Self::Entity, XError>> + Send;

    /// The id recorded for an entity.
    fn id(entity: &Self::Entity) -> &str;

    /// The create on `account` with X's parameters `request`.
    fn new(account: String, request: Self::Request) -> Self;

    /// X's parameters of this create.
    fn request(&self) -> &Self::Request;

    /// The create an intent recorded (`{"x": <X's parameters>, …}`), or `None` when its request
    /// cannot be read back.
    fn from_intent(intent: &Intent) -> Option<Self> {
        let request = serde_json::from_value(intent.request.get("x")?.clone()).ok()?;
        Some(Self::new(intent.account_id.clone(), request))
    }
}

/// Who asks for a write and under which intent: what the protocol records besides the kind.
#[derive(Clone, Debug)]
pub struct WriteRequest<'a> {
    /// The tenant.
    pub tenant_id: &'a str,
    /// The ad account at X.
    pub account_id: &'a str,
    /// The intent's id ([`intent_id`]): the same for a retried dashboard request.
    pub intent_id: String,
    /// The request as the intent records it (the dashboard's body, or what stands for it).
    pub request: serde_json::Value,
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

/// Records an intent (or finds the one an earlier attempt recorded under the same id), held by
/// `holder`; `None` when another execution holds it.
async fn open_intent(
    state: &Services,
    write: WriteRequest<'_>,
    operation: &str,
    entity_id: Option<&str>,
    holder: &str,
) -> Result<Option<Intent>, WriteError> {
    let now = state.clock.now();
    let intent = Intent {
        id: write.intent_id,
        tenant_id: write.tenant_id.to_owned(),
        account_id: write.account_id.to_owned(),
        operation: operation.to_owned(),
        request: write.request,
        state: WriteState::Pending,
        attempts: 0,
        entity_id: entity_id.map(str::to_owned),
        created_at: now,
    };
    Ok(x_writes::record(&state.db, &intent, holder, state.config.leases.x_write, now).await?)
}

/// Runs `work` while `holder` holds intent `id`, renewing its lease, then releases it.
async fn holding<T>(
    state: &Services,
    id: &str,
    holder: &str,
    work: impl Future<Output = Result<T, WriteError>>,
) -> Result<T, WriteError> {
    let lease = state.config.leases.x_write;
    let out = crate::lease::renewing(
        work,
        crate::config::Leases::renew_every(lease),
        || async move {
            match x_writes::renew(&state.db, id, holder, lease).await {
                Ok(held) => {
                    if !held {
                        tracing::error!(intent.id = %id, "lost the lease of an intent while its write ran");
                    }
                    held
                }
                Err(e) => {
                    tracing::warn!(intent.id = %id, error = %e, "renewing an intent's lease failed");
                    true
                }
            }
        },
    )
    .await;
    if let Err(e) = x_writes::release(&state.db, id, holder).await {
        // The lease then lapses by itself.
        tracing::warn!(intent.id = %id, error = %e, "releasing an intent's lease failed");
    }
    out
}

/// Creates `kind` at X exactly once (the protocol of the module doc).
pub async fn create<K: CreateAtX>(
    state: &Services,
    session: &XSession,
    write: WriteRequest<'_>,
    kind: &K,
) -> Result<CreatedAtX<K::Entity>, WriteError> {
    let operation = K::OPERATION;
    let holder = crate::store::new_id("xwh");
    let write = WriteRequest {
        request: serde_json::json!({
            "x": serde_json::to_value(kind.request()).unwrap_or_default(),
            "from": write.request,
        }),
        ..write
    };
    let Some(intent) = open_intent(state, write, operation, None, &holder).await? else {
        return Err(WriteError::InFlight { operation });
    };
    holding(
        state,
        &intent.id,
        &holder,
        create_held(state, session, &intent, &holder, kind),
    )
    .await
}

/// [`create`] once the intent is held.
async fn create_held<K: CreateAtX>(
    state: &Services,
    session: &XSession,
    intent: &Intent,
    holder: &str,
    kind: &K,
) -> Result<CreatedAtX<K::Entity>, WriteError> {
    let db = &state.db;
    let operation = K::OPERATION;
    match intent.state {
        WriteState::Done => {
            if let Some(id) = &intent.entity_id {
                let entity = session.call(|x| kind.fetch(x, id.clone())).await?;
                return Ok(CreatedAtX {
                    entity,
                    request_id: None,
                });
            }
        }
        // A crash, a lost answer, or an earlier execution that gave up after ambiguous sends: a
        // late commit may have landed since.
        WriteState::Sent | WriteState::Unknown => {
            if let Some(found) = reconcile(state, session, intent, holder, kind).await? {
                return Ok(found);
            }
        }
        WriteState::Failed if intent.attempts > 0 => {
            if let Some(found) = reconcile(state, session, intent, holder, kind).await? {
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
            // Not `failed`: X may yet show the entity. Released, the intent is looked up again
            // by recovery, and a retry with the same key searches X before sending.
            x_writes::set_state(
                db,
                &intent.id,
                holder,
                WriteState::Unknown,
                None,
                Some("no answer from X and not found at X: unknown whether X created it"),
                state.clock.now(),
            )
            .await?;
            return Err(WriteError::Unresolved { operation, sends });
        }
        x_writes::set_state(
            db,
            &intent.id,
            holder,
            WriteState::Sent,
            None,
            None,
            state.clock.now(),
        )
        .await?;
        sends += 1;
        let opts = CallOptions::idempotency_key(intent.id.clone());
        let result = session.call(|x| kind.send(x, opts.clone())).await;
        match result {
            Ok(resp) => {
                let id = K::id(&resp.data).to_owned();
                x_writes::set_state(
                    db,
                    &intent.id,
                    holder,
                    WriteState::Done,
                    Some(&id),
                    None,
                    state.clock.now(),
                )
                .await?;
                return Ok(CreatedAtX {
                    entity: resp.data,
                    request_id: resp.request_id,
                });
            }
            Err(XSessionError::X(e)) if e.is_ambiguous() => {
                tracing::warn!(x.operation = operation, intent.id = %intent.id, error = %e, "ambiguous failure; reconciling before any retry");
                x_writes::set_state(
                    db,
                    &intent.id,
                    holder,
                    WriteState::Unknown,
                    None,
                    Some(&e.to_string()),
                    state.clock.now(),
                )
                .await?;
                if let Some(found) = reconcile(state, session, intent, holder, kind).await? {
                    return Ok(found);
                }
                // Not there yet: X may still be committing the write. Look once more after a
                // pause before sending it again.
                tokio::time::sleep(state.config.leases.recheck_after).await;
                if let Some(found) = reconcile(state, session, intent, holder, kind).await? {
                    tracing::info!(x.operation = operation, intent.id = %intent.id, "X committed the write after its answer was lost");
                    return Ok(found);
                }
            }
            Err(e) => {
                x_writes::set_state(
                    db,
                    &intent.id,
                    holder,
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

/// Recovery of an intent nobody holds any more (its holder's lease lapsed), now held by
/// `holder`: the entity an earlier send may have made, looked up at X (found → `done`), else the
/// intent is `failed` (X did not execute it: after a lapsed lease X has long answered, so a
/// retry of the dashboard request sends it afresh, after searching X once more). `None` from
/// [`CreateAtX::from_intent`] (a request recorded in a form it cannot read back) fails it with
/// that said.
pub async fn recover<K: CreateAtX>(
    state: &Services,
    session: &XSession,
    intent: &Intent,
    holder: &str,
) -> Result<Option<K::Entity>, WriteError> {
    let Some(kind) = K::from_intent(intent) else {
        x_writes::set_state(
            &state.db,
            &intent.id,
            holder,
            WriteState::Failed,
            None,
            Some(
                "its request cannot be read back to look for it at X: unknown whether X created it",
            ),
            state.clock.now(),
        )
        .await?;
        return Ok(None);
    };
    let found = holding(state, &intent.id, holder, async {
        reconcile(state, session, intent, holder, &kind).await
    })
    .await?;
    if found.is_none() {
        x_writes::set_state(
            &state.db,
            &intent.id,
            holder,
            WriteState::Failed,
            None,
            Some("not found at X after its holder's lease lapsed"),
            state.clock.now(),
        )
        .await?;
    }
    Ok(found.map(|f| f.entity))
}

/// Looks for the entity an earlier send of `intent` may have created; records it when found.
async fn reconcile<K: CreateAtX>(
    state: &Services,
    session: &XSession,
    intent: &Intent,
    holder: &str,
    kind: &K,
) -> Result<Option<CreatedAtX<K::Entity>>, WriteError> {
    let since = intent.created_at - CREATED_SKEW;
    let candidates = session.call(|x| kind.find(x, since)).await?;
    for entity in candidates {
        let id = K::id(&entity).to_owned();
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
            holder,
            WriteState::Done,
            Some(&id),
            None,
            state.clock.now(),
        )
        .await?;
        return Ok(Some(CreatedAtX {
            entity,
            request_id: None,
        }));
    }
    Ok(None)
}

/// Runs an update or delete, recorded like a create. These are idempotent at X (a PUT sets the
/// same fields again; a repeated DELETE finds the entity gone), so ambiguous failures are simply
/// retried by the client.
pub async fn tracked<T, S, SF>(
    state: &Services,
    session: &XSession,
    write: WriteRequest<'_>,
    operation: &'static str,
    entity_id: &str,
    send: S,
) -> Result<XResponse<T>, WriteError>
where
    S: Fn(XAds, CallOptions) -> SF,
    SF: Future<Output = Result<XResponse<T>, XError>>,
{
    let holder = crate::store::new_id("xwh");
    let Some(intent) = open_intent(state, write, operation, Some(entity_id), &holder).await? else {
        return Err(WriteError::InFlight { operation });
    };
    holding(state, &intent.id, &holder, async {
        tracked_held(state, session, &intent, &holder, entity_id, &send).await
    })
    .await
}

async fn tracked_held<T, S, SF>(
    state: &Services,
    session: &XSession,
    intent: &Intent,
    holder: &str,
    entity_id: &str,
    send: &S,
) -> Result<XResponse<T>, WriteError>
where
    S: Fn(XAds, CallOptions) -> SF,
    SF: Future<Output = Result<XResponse<T>, XError>>,
{
    let db = &state.db;
    x_writes::set_state(
        db,
        &intent.id,
        holder,
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
                holder,
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
                holder,
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
