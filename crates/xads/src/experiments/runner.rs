//! The experiment runner: on every tick, for each running experiment, it works out which
//! variants the schedule wants live in the current slot and pauses/resumes line items to match.
//!
//! Exactly one actor per slot across instances: the slot is claimed with a conditional insert
//! (`experiment_slots`), so two runners never toggle the same slot twice. The toggles themselves
//! are exactly-once writes keyed by (experiment, slot, variant), so a runner that dies mid-slot is
//! completed by the next claim-free retry (`tick_one` re-applies an unfinished slot it owns).
//!
//! Drift: before toggling a variant the runner compares X's state (the mirror, refreshed from X
//! first in live mode) with what it last set. If someone changed it in X Ads Manager, the runner
//! records the drift on the variant and the experiment and leaves that variant alone.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{Experiment, schedule_of, stop_of, write_scope};
use crate::manage::input::LineItemChange;
use crate::manage::{ManageError, Scope};
use crate::services::Services;
use crate::store::entities::{self, Kind};
use crate::store::experiments as store;

/// Runs every running experiment's current slot once (claimed across instances).
pub async fn tick(
    state: &Services,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<usize, ManageError> {
    let mut applied = 0;
    for e in store::running(&state.db).await? {
        match tick_one(state, &e, holder, now).await {
            Ok(true) => applied += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(experiment.id = %e.id, error = %err, "runner tick failed; retried next tick")
            }
        }
    }
    Ok(applied)
}

/// Applies the current slot of one experiment if this caller claims it. Returns whether it did.
pub async fn tick_one(
    state: &Services,
    e: &Experiment,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<bool, ManageError> {
    let start = e.started_at.unwrap_or(now);
    let scope = scope_for(state, e).await?;
    let stop = stop_of(e);
    if now - start >= Duration::days(i64::from(stop.max_days)) {
        set_live(&scope, e, &[], "max_days").await?;
        store::set_status(
            &state.db,
            &e.id,
            "stopped",
            Some("stopped by the runner: maximum duration reached"),
            now,
        )
        .await?;
        return Ok(true);
    }
    let sched = schedule_of(e);
    let Some(slot) = sched.slot_at(start, now) else {
        return Ok(false);
    };
    let variants = store::variants(&state.db, &e.id).await?;
    let live = sched.live_in(slot, variants.len());
    let live_list = live
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if !store::claim_slot(&state.db, &e.id, slot, &live_list, holder, now).await? {
        return Ok(false);
    }
    set_live(&scope, e, &live, &format!("slot:{slot}")).await?;
    store::slot_done(&state.db, &e.id, slot, now).await?;
    tracing::info!(experiment.id = %e.id, slot, live = %live_list, "experiment slot applied");
    Ok(true)
}

async fn scope_for(state: &Services, e: &Experiment) -> Result<Scope, ManageError> {
    let tenant = crate::store::tenants::get(&state.db, &e.tenant_id)
        .await?
        .ok_or(ManageError::NotFound("tenant"))?;
    Ok(Scope {
        state: state.clone(),
        tenant,
        account_id: e.account_id.clone(),
        idem_key: None,
    })
}

/// Makes exactly the variants in `live` unpaused (the rest paused), leaving drifted ones alone.
pub async fn set_live(
    scope: &Scope,
    e: &Experiment,
    live: &[usize],
    step: &str,
) -> Result<(), ManageError> {
    let db = &scope.state.db;
    let variants = store::variants(db, &e.id).await?;
    if scope.live() && !e.dry_run {
        // See X's current state, so changes made in X Ads Manager show up as drift.
        let session = scope.session().await?;
        crate::manage::mirror::refresh(scope, &session, Kind::LineItem).await?;
    }
    let mut drifted = Vec::new();
    for v in &variants {
        let Some(id) = &v.line_item_id else { continue };
        let Some(current) =
            entities::get(db, &scope.tenant.id, &scope.account_id, Kind::LineItem, id).await?
        else {
            continue;
        };
        let actual_paused = current.data["paused"].as_bool().unwrap_or(true);
        if actual_paused != v.expected_paused {
            let note = format!(
                "line item {id} was {} outside xads (expected {}); the runner leaves it as is",
                if actual_paused { "paused" } else { "resumed" },
                if v.expected_paused { "paused" } else { "live" }
            );
            store::set_variant_state(db, &e.id, v.idx, v.expected_paused, Some(&note)).await?;
            drifted.push(format!("{}: {note}", v.name));
            continue;
        }
        let want_paused = !live.contains(&(v.idx as usize));
        if want_paused != actual_paused {
            let s = write_scope(scope, e, &format!("{step}:{}", v.idx));
            crate::manage::line_items::update_validated(
                &s,
                current,
                &LineItemChange {
                    paused: Some(want_paused),
                    ..LineItemChange::default()
                },
                &json!({ "experiment": e.id, "step": step, "paused": want_paused }),
            )
            .await?;
        }
        store::set_variant_state(db, &e.id, v.idx, want_paused, None).await?;
    }
    if !drifted.is_empty() {
        let problem = format!("drift: {}", drifted.join("; "));
        store::set_status(
            db,
            &e.id,
            &e.status,
            Some(&problem),
            scope.state.clock.now(),
        )
        .await?;
    }
    Ok(())
}

/// Ticks forever every `every` (spawned by `Application::run`).
pub async fn run_forever(state: Services, holder: String, every: StdDuration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = tick(&state, &holder, state.clock.now()).await {
            tracing::warn!(error = %e, "experiment runner tick failed");
        }
    }
}
