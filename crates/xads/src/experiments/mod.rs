//! Creative experiments (PRODUCT.md §4.8). X has no experiment primitive: an experiment is one
//! campaign with one line item per variant (its own targeting, bid, budget and promoted creative
//! tweet). **The control ships unpaused, the treatments paused** (PRODUCT §4.8: the control is
//! business as usual, the baseline the treatments are measured against; the pages say so before
//! Start); `start` applies the schedule's first slot, the [`runner`] then switches them on the
//! [`schedule::Schedule`], and `stop` pauses them all. Results come from `LINE_ITEM` stats with
//! the sequential
//! verdict of [`stats`].
//!
//! Creation is resumable: every variant step is an exactly-once write whose intent id derives
//! from the experiment id, and each created id is stored as soon as it exists, so a failure
//! leaves a visible `failed` experiment that `start` completes without duplicating anything.

pub mod runner;
pub mod schedule;
pub mod stats;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde_json::{Value, json};

use xads_client::models::{TargetingCriterion, TargetingCriterionCreate};
use xads_client::{CallOptions, ListParams, XAds, XError, XResponse};

use crate::manage::exactly_once::CreateAtX;
use crate::manage::input::{self, Invalid, LineItemInput, PromotedTweetsInput};
use crate::manage::{Created, ManageError, Scope};
use crate::store::entities::{self, Kind};
use crate::store::experiments::{self as store, Experiment, Variant};
use schedule::Schedule;
use stats::{PrimaryMetric, Rules, Totals, Verdict};

/// The note shown with every experiment (API and UI).
pub const QUASI_EXPERIMENT_NOTE: &str = "Rotation under one campaign is a quasi-experiment: variants run at different times, so time of day, day of week and auction pressure are confounded with the variant. The switchback schedule shifts the order daily so every variant gets every time slot equally; intervals and a sequential verdict guard against the rest. Concurrent mode runs variants together, but X's auction then decides each variant's delivery.";

fn invalid(field: &str, message: impl Into<String>) -> ManageError {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
    .into()
}

/// A variant's line-item settings.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct VariantLineItem {
    /// Objective.
    pub objective: String,
    /// Product type.
    pub product_type: String,
    /// Placements.
    pub placements: Vec<String>,
    /// Bid (micros).
    pub bid_amount_local_micro: Option<i64>,
    /// Daily budget (micros).
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Targeting criteria.
    #[serde(default)]
    pub targeting: Vec<Targeting>,
}

impl VariantLineItem {
    /// The campaign-management input for this variant's line item.
    fn line_item(&self, campaign_id: &str, name: Option<String>, paused: bool) -> LineItemInput {
        LineItemInput {
            campaign_id: campaign_id.to_owned(),
            name,
            objective: self.objective.clone(),
            product_type: self.product_type.clone(),
            placements: self.placements.clone(),
            bid_strategy: None,
            bid_amount_local_micro: self.bid_amount_local_micro,
            goal: None,
            pay_by: None,
            start_time: None,
            end_time: None,
            daily_budget_amount_local_micro: self.daily_budget_amount_local_micro,
            total_budget_amount_local_micro: None,
            paused,
        }
    }
}

/// One targeting criterion.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Targeting {
    /// X's targeting type (`LOCATION`, `INTEREST`, …).
    pub targeting_type: String,
    /// Its value.
    pub targeting_value: String,
}

/// One variant of the request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    /// Name.
    pub name: String,
    /// Exactly one variant is the control.
    #[serde(default)]
    pub control: bool,
    /// The creative tweet.
    pub tweet_id: String,
    /// Its line item.
    pub line_item: VariantLineItem,
}

/// Stopping rules.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    /// Minimum impressions per variant before a verdict.
    #[serde(default = "default_min_impressions")]
    pub min_impressions: u64,
    /// Minimum conversion events per variant: conversions for the conversion metrics, installs
    /// for `install_rate` and `cpi`.
    #[serde(default)]
    pub min_conversions: u64,
    /// The runner stops the experiment after this many days.
    #[serde(default = "default_max_days")]
    pub max_days: u32,
}

fn default_min_impressions() -> u64 {
    1_000
}
fn default_max_days() -> u32 {
    28
}

/// `POST …/experiments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    /// Name.
    pub name: String,
    /// The campaign (must exist in the account).
    pub campaign_id: String,
    /// What decides the winner.
    pub primary_metric: PrimaryMetric,
    /// Rotation or concurrent.
    pub schedule: Schedule,
    /// Stopping rules.
    #[serde(default = "default_stop")]
    pub stop: Stop,
    /// 2–5 variants, exactly one control.
    pub variants: Vec<VariantInput>,
}

fn default_stop() -> Stop {
    Stop {
        min_impressions: default_min_impressions(),
        min_conversions: 0,
        max_days: default_max_days(),
    }
}

impl CreateInput {
    fn validate(mut self) -> Result<Self, ManageError> {
        self.name = input::name("name", &self.name)?;
        input::entity_id("campaign_id", &self.campaign_id)?;
        self.schedule
            .validate()
            .map_err(|m| invalid("schedule.slot_hours", m))?;
        if !(2..=5).contains(&self.variants.len()) {
            return Err(invalid("variants", "an experiment has 2 to 5 variants"));
        }
        if self.variants.iter().filter(|v| v.control).count() != 1 {
            return Err(invalid(
                "variants",
                "exactly one variant must be the control",
            ));
        }
        if self.stop.max_days == 0 || self.stop.max_days > 90 {
            return Err(invalid("stop.max_days", "must be 1 to 90"));
        }
        for (i, v) in self.variants.iter_mut().enumerate() {
            v.name = input::name(&format!("variants[{i}].name"), &v.name)?;
            // The line item and tweet rules are the campaign-management ones.
            v.line_item
                .line_item(&self.campaign_id, None, false)
                .validate()
                .map_err(|e| invalid(&format!("variants[{i}].line_item.{}", e.field), e.message))?;
            PromotedTweetsInput {
                line_item_id: self.campaign_id.clone(),
                tweet_ids: vec![v.tweet_id.clone()],
            }
            .validate()
            .map_err(|e| invalid(&format!("variants[{i}].tweet_id"), e.message))?;
        }
        let mut names: Vec<&str> = self.variants.iter().map(|v| v.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("variants", "variant names must be distinct"));
        }
        Ok(self)
    }
}

fn metric(e: &Experiment) -> PrimaryMetric {
    serde_json::from_value(json!(e.primary_metric)).unwrap_or(PrimaryMetric::Ctr)
}

fn schedule_of(e: &Experiment) -> Schedule {
    serde_json::from_value(e.schedule.clone()).unwrap_or(Schedule::Concurrent)
}

fn stop_of(e: &Experiment) -> Stop {
    serde_json::from_value(e.rules.clone()).unwrap_or_else(|_| default_stop())
}

/// The scope the experiment's own writes run in: the experiment id is the idempotency key, so
/// every step's intent is stable across retries and instances.
pub fn write_scope(scope: &Scope, e: &Experiment, suffix: &str) -> Scope {
    Scope {
        idem_key: Some(format!("{}:{suffix}", e.id)),
        ..scope.clone()
    }
}

/// `POST …/experiments`.
pub async fn create(scope: &Scope, body: &Value) -> Result<Created<ExperimentView>, ManageError> {
    let input = input::parse::<CreateInput>(body)?.validate()?;
    scope.check_account().await?;
    scope
        .entity(Kind::Campaign, &input.campaign_id, "campaign")
        .await
        .map_err(|_| {
            invalid(
                "campaign_id",
                format!(
                    "campaign {} not found in this ad account",
                    input.campaign_id
                ),
            )
        })?;
    let now = scope.state.clock.now();
    let e = Experiment {
        id: crate::store::new_id("exp"),
        tenant_id: scope.tenant.id.clone(),
        account_id: scope.account_id.clone(),
        name: input.name.clone(),
        campaign_id: input.campaign_id.clone(),
        primary_metric: json!(input.primary_metric)
            .as_str()
            .unwrap_or("ctr")
            .to_owned(),
        schedule: json!(input.schedule),
        rules: json!(input.stop),
        status: "creating".into(),
        dry_run: !scope.live(),
        problem: None,
        winner: None,
        conclusion: None,
        created_at: now,
        started_at: None,
        stopped_at: None,
    };
    let variants: Vec<Variant> = input
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| Variant {
            idx: i as i32,
            name: v.name.clone(),
            control: v.control,
            tweet_id: v.tweet_id.clone(),
            line_item: json!(v.line_item),
            line_item_id: None,
            promoted_tweet_id: None,
            // The control ships unpaused; treatments wait for Start.
            expected_paused: !v.control,
            drift: None,
        })
        .collect();
    store::insert(&scope.state.db, &e, &variants).await?;
    crate::store::stats::track_line_items(
        &scope.state.db,
        &scope.tenant.id,
        &scope.account_id,
        std::slice::from_ref(&e.campaign_id),
        now,
    )
    .await?;
    build(scope, &e).await?;
    let e = load(scope, &e.id).await?;
    Ok(Created(view(scope, e).await?))
}

/// Creates whatever line items and promoted tweets of the experiment are missing.
async fn build(scope: &Scope, e: &Experiment) -> Result<(), ManageError> {
    let db = &scope.state.db;
    for v in store::variants(db, &e.id).await? {
        let result = build_variant(scope, e, &v).await;
        if let Err(err) = result {
            // The experiment keeps a safe text; the cause goes to the log.
            let problem = format!(
                "creating variant {:?} failed: {}",
                v.name,
                err.public_message()
            );
            tracing::warn!(experiment.id = %e.id, %problem, error = %err);
            store::set_status(db, &e.id, "failed", Some(&problem), scope.state.clock.now()).await?;
            return Err(err);
        }
    }
    store::set_status(db, &e.id, "ready", None, scope.state.clock.now()).await?;
    Ok(())
}

async fn build_variant(scope: &Scope, e: &Experiment, v: &Variant) -> Result<(), ManageError> {
    let db = &scope.state.db;
    let settings: VariantLineItem = serde_json::from_value(v.line_item.clone())
        .map_err(|_| ManageError::Conflict("stored variant settings are unreadable".into()))?;
    let line_item_id = match &v.line_item_id {
        Some(id) => id.clone(),
        None => {
            // The control ships unpaused; treatments ship paused until `start`.
            let li = settings.line_item(
                &e.campaign_id,
                Some(
                    format!("{} — {}", e.name, v.name)
                        .chars()
                        .take(255)
                        .collect(),
                ),
                !v.control,
            );
            let li = li.validate().map_err(|e| {
                ManageError::Conflict(format!("stored variant settings are invalid: {e}"))
            })?;
            let s = write_scope(scope, e, "build");
            let Created(line_item) = crate::manage::line_items::create_validated(
                &s,
                &li,
                &json!({"experiment": e.id, "variant": v.idx}),
                &format!("line_item:{}", v.idx),
            )
            .await?;
            let id = line_item.id;
            store::set_variant_ids(db, &e.id, v.idx, Some(&id), None).await?;
            if !e.dry_run && !settings.targeting.is_empty() {
                add_targeting(&s, &id, &settings.targeting).await?;
            }
            id
        }
    };
    if v.promoted_tweet_id.is_none() {
        let s = write_scope(scope, e, "build");
        let Created(attached) = crate::manage::promoted_tweets::attach(
            &s,
            &PromotedTweetsInput {
                line_item_id: line_item_id.clone(),
                tweet_ids: vec![v.tweet_id.clone()],
            },
            &json!({"experiment": e.id, "variant": v.idx, "tweet": v.tweet_id}),
            &format!("promoted_tweet:{}", v.idx),
        )
        .await?;
        let id = attached.first().map(|p| p.id.clone()).unwrap_or_default();
        store::set_variant_ids(db, &e.id, v.idx, None, Some(&id)).await?;
    }
    Ok(())
}

async fn add_targeting(
    scope: &Scope,
    line_item_id: &str,
    targeting: &[Targeting],
) -> Result<(), ManageError> {
    let session = scope.session().await?;
    for t in targeting {
        let create = TargetingCriterionCreate {
            line_item_id: line_item_id.to_owned(),
            targeting_type: t.targeting_type.clone(),
            targeting_value: t.targeting_value.clone(),
            ..Default::default()
        };
        let step = format!(
            "targeting:{line_item_id}:{}:{}",
            t.targeting_type, t.targeting_value
        );
        crate::manage::exactly_once::create(
            &scope.state,
            &session,
            scope.write_request(
                scope.intent_id(&step),
                json!({"line_item_id": line_item_id}),
            ),
            &TargetingCreation {
                account: scope.account_id.clone(),
                create,
            },
        )
        .await?;
    }
    Ok(())
}

/// A targeting criterion to add to a line item at X (the exactly-once protocol's view of it).
pub(crate) struct TargetingCreation {
    account: String,
    create: TargetingCriterionCreate,
}

impl TargetingCreation {
    /// The line item's criteria of this type and value created at or after `since`, newest first.
    async fn matching(
        &self,
        x: &XAds,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<TargetingCriterion>, XError> {
        let c = &self.create;
        let mut found: Vec<TargetingCriterion> = x
            .list_all_targeting_criteria(
                &self.account,
                std::slice::from_ref(&c.line_item_id),
                &ListParams::new(),
            )
            .await?
            .into_iter()
            .filter(|t| {
                t.targeting_type.as_deref() == Some(c.targeting_type.as_str())
                    && t.targeting_value.as_deref() == Some(c.targeting_value.as_str())
                    && since.is_none_or(|s| t.created_at.is_none_or(|at| at >= s))
            })
            .collect();
        found.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        Ok(found)
    }
}

impl CreateAtX for TargetingCreation {
    type Entity = TargetingCriterion;
    type Request = TargetingCriterionCreate;
    const OPERATION: &'static str = "create_targeting_criterion";

    async fn send(
        &self,
        x: XAds,
        opts: CallOptions,
    ) -> Result<XResponse<TargetingCriterion>, XError> {
        x.create_targeting_criterion(&self.account, &self.create, &opts)
            .await
    }

    async fn find(&self, x: XAds, since: DateTime<Utc>) -> Result<Vec<TargetingCriterion>, XError> {
        self.matching(&x, Some(since)).await
    }

    async fn fetch(&self, x: XAds, id: String) -> Result<TargetingCriterion, XError> {
        self.matching(&x, None)
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| XError::Decode {
                operation: "targeting_criteria",
                status: 404,
                message: format!("targeting criterion {id} not listed by X"),
            })
    }

    fn id(t: &TargetingCriterion) -> &str {
        t.id.as_str()
    }

    fn new(account: String, create: TargetingCriterionCreate) -> Self {
        TargetingCreation { account, create }
    }

    fn request(&self) -> &TargetingCriterionCreate {
        &self.create
    }
}

async fn load(scope: &Scope, id: &str) -> Result<Experiment, ManageError> {
    store::get(&scope.state.db, &scope.tenant.id, &scope.account_id, id)
        .await?
        .ok_or(ManageError::NotFound("experiment"))
}

/// An experiment as the API shows it: the stored experiment, its variants with the live state
/// of their line items, and the next switch of the schedule.
#[derive(Debug)]
pub struct ExperimentView {
    /// The experiment.
    pub experiment: Experiment,
    /// Its variants, in order.
    pub variants: Vec<VariantView>,
    /// When the runner next switches variants (running rotations only).
    pub next_switch: Option<DateTime<Utc>>,
}

/// One variant of an [`ExperimentView`].
#[derive(Debug)]
pub struct VariantView {
    /// The stored variant.
    pub variant: Variant,
    /// Whether its line item is paused at X (as mirrored), else as the runner wants it.
    pub paused: bool,
}

/// The experiment with its variants' live state and next switch.
pub async fn view(scope: &Scope, e: Experiment) -> Result<ExperimentView, ManageError> {
    let now = scope.state.clock.now();
    let sched = schedule_of(&e);
    let mut variants = Vec::new();
    for v in store::variants(&scope.state.db, &e.id).await? {
        let live_paused = match &v.line_item_id {
            Some(id) => entities::get(
                &scope.state.db,
                &scope.tenant.id,
                &scope.account_id,
                Kind::LineItem,
                id,
            )
            .await?
            .map(|l| l.data["paused"].as_bool().unwrap_or(true)),
            None => None,
        };
        variants.push(VariantView {
            paused: live_paused.unwrap_or(v.expected_paused),
            variant: v,
        });
    }
    let next_switch = match (e.status.as_str(), e.started_at) {
        ("running", Some(start)) => sched.next_switch(start, now),
        _ => None,
    };
    Ok(ExperimentView {
        experiment: e,
        variants,
        next_switch,
    })
}

/// `GET …/experiments/{id}`.
pub async fn get(scope: &Scope, id: &str) -> Result<ExperimentView, ManageError> {
    scope.check_account().await?;
    let e = load(scope, id).await?;
    view(scope, e).await
}

/// A page of the account's experiments, newest first, and the cursor of the next page.
#[derive(Debug)]
pub struct ExperimentPage {
    /// The experiments of this page.
    pub items: Vec<ExperimentView>,
    /// The cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

/// `GET …/experiments?cursor=&count=`: a page of the account's experiments, newest first.
pub async fn page(
    scope: &Scope,
    cursor: Option<&str>,
    count: Option<u32>,
) -> Result<ExperimentPage, ManageError> {
    use crate::manage::paging;
    let count = paging::count(count)?;
    let after = match paging::decode(cursor, 2)? {
        None => None,
        Some(key) => {
            let ms = key[0]
                .parse::<i64>()
                .map_err(|_| crate::manage::input::Invalid {
                    field: "cursor".into(),
                    message: "not a cursor this API returned".into(),
                })?;
            Some((crate::store::from_millis(ms), key[1].clone()))
        }
    };
    scope.check_account().await?;
    let mut rows = store::page(
        &scope.state.db,
        &scope.tenant.id,
        &scope.account_id,
        after.as_ref().map(|(t, id)| (*t, id.as_str())),
        count + 1,
    )
    .await?;
    let next_cursor = if rows.len() as i64 > count {
        rows.truncate(count as usize);
        rows.last()
            .map(|e| paging::encode(&[&crate::store::millis(e.created_at).to_string(), &e.id]))
    } else {
        None
    };
    let mut items = Vec::with_capacity(rows.len());
    for e in rows {
        items.push(view(scope, e).await?);
    }
    Ok(ExperimentPage { items, next_cursor })
}

/// `POST …/experiments/{id}/start`: completes creation if needed, then the runner takes over.
pub async fn start(scope: &Scope, id: &str) -> Result<ExperimentView, ManageError> {
    scope.check_account().await?;
    let e = load(scope, id).await?;
    match e.status.as_str() {
        "creating" | "failed" => build(scope, &e).await?,
        "ready" | "stopped" => {}
        "running" => return get(scope, id).await,
        other => {
            return Err(ManageError::Conflict(format!(
                "an experiment that is {other} cannot be started"
            )));
        }
    }
    store::set_status(
        &scope.state.db,
        id,
        "running",
        None,
        scope.state.clock.now(),
    )
    .await?;
    // Apply the first slot now rather than at the runner's next tick.
    runner::tick_one(
        &scope.state,
        &load(scope, id).await?,
        "start",
        scope.state.clock.now(),
    )
    .await?;
    get(scope, id).await
}

/// What an experiment stopped by a disconnect says (its `problem`).
pub const STOPPED_BY_DISCONNECT: &str = "Stopped because X was disconnected: the runner no longer switches its line items, which stay as they were at X (a live variant keeps delivering until it is paused at X, or here after re-connecting).";

/// On disconnect: stops the runner of every running experiment of the tenant (the runner could
/// not reach X any more). Their line items are left as they are at X — no call can be made
/// without the tokens — and each experiment says so. Answers the stopped experiments' names.
pub async fn stop_for_disconnect(
    state: &crate::services::Services,
    tenant_id: &str,
) -> Result<Vec<String>, crate::db::DbError> {
    let mut names = Vec::new();
    for e in store::running_of_tenant(&state.db, tenant_id).await? {
        store::set_status(
            &state.db,
            &e.id,
            "stopped",
            Some(STOPPED_BY_DISCONNECT),
            state.clock.now(),
        )
        .await?;
        names.push(e.name);
    }
    Ok(names)
}

/// `POST …/experiments/{id}/stop`: pauses every variant.
pub async fn stop(scope: &Scope, id: &str) -> Result<ExperimentView, ManageError> {
    scope.check_account().await?;
    let e = load(scope, id).await?;
    if matches!(e.status.as_str(), "concluded") {
        return Err(ManageError::Conflict(
            "the experiment is already concluded".into(),
        ));
    }
    runner::set_live(scope, &e, &[], "stop").await?;
    store::set_status(
        &scope.state.db,
        id,
        "stopped",
        e.problem.as_deref(),
        scope.state.clock.now(),
    )
    .await?;
    get(scope, id).await
}

/// `POST …/experiments/{id}/conclude` (`{"winner": name?, "reason": text?}`): keeps the winner
/// running, pauses the others, records why.
pub async fn conclude(
    scope: &Scope,
    id: &str,
    body: &Value,
) -> Result<ExperimentView, ManageError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        winner: Option<String>,
        reason: Option<String>,
    }
    let body: Body = if body.is_null() {
        Body {
            winner: None,
            reason: None,
        }
    } else {
        input::parse(body)?
    };
    scope.check_account().await?;
    let e = load(scope, id).await?;
    if e.status == "concluded" {
        return get(scope, id).await;
    }
    let results = results_of(scope, &e).await?;
    let variants = store::variants(&scope.state.db, &e.id).await?;
    let winner = match (&body.winner, results.winner.as_deref()) {
        (Some(w), _) => variants
            .iter()
            .find(|v| &v.name == w)
            .ok_or_else(|| invalid("winner", format!("no variant named {w:?}")))?,
        (None, Some(w)) => variants
            .iter()
            .find(|v| v.name == w)
            .expect("winner is a variant"),
        (None, None) => {
            return Err(ManageError::Conflict(format!(
                "no winner yet (verdict: {}); pass {{\"winner\": \"<variant>\"}} to conclude anyway",
                results.verdict.as_str()
            )));
        }
    };
    runner::set_live(scope, &e, &[winner.idx as usize], "conclude").await?;
    let why = body.reason.unwrap_or_else(|| {
        format!(
            "verdict {} on {}; winner {} chosen {}",
            results.verdict.as_str(),
            e.primary_metric,
            winner.name,
            if body.winner.is_some() {
                "by the user"
            } else {
                "by the verdict"
            }
        )
    });
    store::conclude(
        &scope.state.db,
        id,
        &winner.name,
        &why,
        scope.state.clock.now(),
    )
    .await?;
    get(scope, id).await
}

/// `GET …/experiments/{id}/results`.
pub async fn results(scope: &Scope, id: &str) -> Result<Results, ManageError> {
    scope.check_account().await?;
    let e = load(scope, id).await?;
    results_of(scope, &e).await
}

fn decimal_sum(values: &[String]) -> f64 {
    values
        .iter()
        .filter_map(|s| s.parse::<Decimal>().ok())
        .sum::<Decimal>()
        .to_f64()
        .unwrap_or(0.0)
}

/// Per-variant figures, P(best) and the verdict, from the stored `LINE_ITEM` stats since start.
pub async fn results_of(scope: &Scope, e: &Experiment) -> Result<Results, ManageError> {
    let variants = store::variants(&scope.state.db, &e.id).await?;
    let ids: Vec<String> = variants
        .iter()
        .filter_map(|v| v.line_item_id.clone())
        .collect();
    let from = e.started_at.unwrap_or(e.created_at) - Duration::hours(1);
    let rows = store::line_item_totals(
        &scope.state.db,
        &scope.tenant.id,
        &scope.account_id,
        &ids,
        from,
    )
    .await?;
    let totals: Vec<Totals> = variants
        .iter()
        .map(|v| {
            rows.iter()
                .find(|r| Some(&r.line_item_id) == v.line_item_id.as_ref())
                .map(|r| Totals {
                    impressions: r.impressions.max(0) as u64,
                    clicks: r.clicks.max(0) as u64,
                    conversions: r.conversions.max(0) as u64,
                    installs: r.installs.max(0) as u64,
                    spend_usd: decimal_sum(&r.spend_usd),
                })
                .unwrap_or_default()
        })
        .collect();
    Ok(evaluate(e, &variants, &totals))
}

/// An experiment's results: per-variant figures, P(best) and the sequential verdict.
#[derive(Debug)]
pub struct Results {
    /// The experiment.
    pub experiment_id: String,
    /// What decides the winner (`ctr`, `cpa`, …).
    pub primary_metric: String,
    /// The verdict so far.
    pub verdict: Verdict,
    /// The winning variant's name, when there is one.
    pub winner: Option<String>,
    /// One row per variant, in order.
    pub variants: Vec<VariantResult>,
}

/// One variant's figures in [`Results`].
#[derive(Debug)]
pub struct VariantResult {
    /// Its name.
    pub name: String,
    /// Whether it is the control.
    pub control: bool,
    /// Its line item, once created.
    pub line_item_id: Option<String>,
    /// Whether the runner keeps it paused now.
    pub paused: bool,
    /// Its totals since the start.
    pub totals: Totals,
    /// Every metric one can judge on, with its interval (Wilson 95 % for rates, delta method for
    /// costs), in [`PrimaryMetric::ALL`] order.
    pub estimates: [(PrimaryMetric, stats::Estimate); PrimaryMetric::ALL.len()],
    /// Always-valid p-value against the control (`None` for the control).
    pub p_value_vs_control: Option<f64>,
    /// Posterior probability of being the best; `None` until every variant has data.
    pub p_best: Option<f64>,
}

/// How the figures and the verdict are computed (answered with every result).
pub const RESULTS_METHOD: &str = "mSPRT always-valid p-values vs the control (α = 0.05, Bonferroni across treatments); Wilson 95% intervals for rates, delta-method for costs; P(best) from Beta/Gamma posteriors (4 000 seeded draws), null until every variant has data (impressions for CTR and install rate, clicks for conversion rate, spend for CPC/CPA/CPI), from one prior shared by all variants: centred on their pooled rate and worth one observation (Beta(p̄, 1−p̄), Gamma(1, 1/r̄)), so a variant with little evidence is pulled toward the pooled rate and never ranked above one with evidence by the prior alone";

/// The results for given totals (pure: the hand-calculation test calls it).
pub fn evaluate(e: &Experiment, variants: &[Variant], totals: &[Totals]) -> Results {
    let m = metric(e);
    let stop = stop_of(e);
    let rules = Rules {
        alpha: 0.05,
        min_impressions: stop.min_impressions,
        min_conversions: stop.min_conversions,
    };
    let control = variants.iter().position(|v| v.control).unwrap_or(0);
    let decision = stats::decide(m, &rules, control, totals);
    let seed = e.id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let p_best = stats::p_best(m, totals, seed, 4_000);
    let rows = variants
        .iter()
        .zip(totals)
        .enumerate()
        .map(|(i, (v, t))| VariantResult {
            name: v.name.clone(),
            control: v.control,
            line_item_id: v.line_item_id.clone(),
            paused: v.expected_paused,
            totals: t.clone(),
            estimates: PrimaryMetric::ALL.map(|m| (m, stats::estimate(m, t))),
            p_value_vs_control: decision.p_values[i],
            p_best: p_best.as_ref().map(|p| p[i]),
        })
        .collect();
    Results {
        experiment_id: e.id.clone(),
        primary_metric: e.primary_metric.clone(),
        verdict: decision.verdict,
        winner: decision.winner.map(|w| variants[w].name.clone()),
        variants: rows,
    }
}
