//! The fake's whole world behind one mutex, and the Rust-level controls tests use.
//!
//! One `std::sync::Mutex` guards everything: requests are tiny and never await while holding it,
//! so a single lock keeps every multi-entity rule (ids, cascades, ledger order) trivially consistent.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::FakeConfig;
use crate::faults::{FaultRule, Faults};
use crate::ids::IdGen;
use crate::ledger::{Ledger, LedgerEntry};
use crate::media::Upload;
use crate::model::{
    Account, Campaign, FundingInstrument, LineItem, MediaItem, PromotedTweet, Record,
    TargetingCriterion, Tweet,
};
use crate::oauth2::{FamilyRevocation, OAuthCounters, OAuthState, TokenPair};
use crate::ratelimit::RateLimiter;
use crate::seed::SeedInfo;
use crate::stats::Revision;

/// The fake's clock: frozen at a configured start (moved only by controls), or real time plus an offset.
#[derive(Debug, Clone)]
pub struct Clock {
    frozen: Option<DateTime<Utc>>,
    offset: Duration,
}

impl Clock {
    /// A clock per config.
    pub fn new(start: Option<DateTime<Utc>>) -> Self {
        Clock {
            frozen: start,
            offset: Duration::zero(),
        }
    }

    /// Now, by the fake's clock (whole seconds).
    pub fn now(&self) -> DateTime<Utc> {
        let t = self.frozen.unwrap_or_else(Utc::now) + self.offset;
        t.duration_trunc(Duration::seconds(1)).unwrap_or(t)
    }
}

/// Everything the fake knows.
#[derive(Debug)]
pub struct State {
    /// Clock.
    pub clock: Clock,
    /// Id generator.
    pub ids: IdGen,
    /// Seeded ids.
    pub seed: SeedInfo,
    /// Ads accounts.
    pub accounts: Vec<Account>,
    /// Funding instruments.
    pub funding: Vec<FundingInstrument>,
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// Line items.
    pub line_items: Vec<LineItem>,
    /// Promoted tweets.
    pub promoted_tweets: Vec<PromotedTweet>,
    /// Targeting criteria.
    pub targeting: Vec<TargetingCriterion>,
    /// Promotable tweets.
    pub tweets: Vec<Tweet>,
    /// Media library.
    pub media: Vec<MediaItem>,
    /// v2 uploads.
    pub uploads: Vec<Upload>,
    /// OAuth 2.0.
    pub oauth: OAuthState,
    /// OAuth 1.0a.
    pub oauth1: crate::oauth1::OAuth1State,
    /// Ledger.
    pub ledger: Ledger,
    /// Fault rules.
    pub faults: Faults,
    /// Rate-limit windows.
    pub limits: RateLimiter,
    /// Late-data revisions.
    pub revisions: Vec<Revision>,
    /// Whether the app is approved for the Ads API.
    pub app_approved: bool,
    /// Asynchronous analytics jobs, oldest first.
    pub jobs: Vec<crate::jobs::Job>,
    /// How new jobs behave.
    pub job_settings: crate::jobs::JobSettings,
    /// `http://<the fake's address>` when it serves X's media CDN itself
    /// ([`crate::FakeConfig::media_on_own_host`]): media URLs then point there.
    pub media_origin: Option<String>,
}

impl State {
    /// The revision number of `entity_id`'s `hour`.
    pub fn revision(&self, entity_id: &str, hour: DateTime<Utc>) -> u32 {
        self.revisions
            .iter()
            .filter(|r| r.entity_id == entity_id && r.hour == hour)
            .map(|r| r.revision)
            .max()
            .unwrap_or(0)
    }
}

pub(crate) struct Shared {
    pub(crate) config: FakeConfig,
    pub(crate) state: Mutex<State>,
    /// Named gates of the `hold` and `commit_late` faults: closed until a test opens them.
    pub(crate) gates: Mutex<std::collections::HashMap<String, tokio::sync::watch::Sender<bool>>>,
}

/// Shared handle on one fake world: the router's state and every test control. Cheap to clone.
#[derive(Clone)]
pub struct FakeState(pub(crate) Arc<Shared>);

/// Per-account entity counts, deleted ones included.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct EntityCounts {
    /// Campaigns, deleted included.
    pub campaigns: usize,
    /// Deleted campaigns.
    pub campaigns_deleted: usize,
    /// Line items, deleted included.
    pub line_items: usize,
    /// Deleted line items.
    pub line_items_deleted: usize,
    /// Promoted tweets, deleted included.
    pub promoted_tweets: usize,
    /// Deleted promoted tweets.
    pub promoted_tweets_deleted: usize,
    /// Media-library items, deleted included.
    pub media: usize,
    /// Deleted media-library items.
    pub media_deleted: usize,
}

fn of_account<T: Record + Clone>(items: &[T], account_id: &str) -> Vec<T> {
    items
        .iter()
        .filter(|e| e.account() == account_id)
        .cloned()
        .collect()
}

fn count<T: Record>(items: &[T], account_id: &str) -> (usize, usize) {
    let all = items.iter().filter(|e| e.account() == account_id);
    let deleted = all.clone().filter(|e| e.is_deleted()).count();
    (all.count(), deleted)
}

impl FakeState {
    /// A fresh, seeded world.
    pub fn new(config: FakeConfig) -> Self {
        let state = crate::seed::build(&config);
        FakeState(Arc::new(Shared {
            config,
            state: Mutex::new(state),
            gates: Mutex::new(std::collections::HashMap::new()),
        }))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock must not wedge every later test request.
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration.
    pub fn config(&self) -> &FakeConfig {
        &self.0.config
    }

    /// Ids of the seeded world.
    pub fn seed_info(&self) -> SeedInfo {
        self.lock().seed.clone()
    }

    /// Now, by the fake's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().clock.now()
    }

    /// Moves the fake clock forward (or back, with a negative duration).
    pub fn advance_clock(&self, by: Duration) {
        self.lock().clock.offset += by;
    }

    /// Sets the clock's offset from its base.
    pub fn set_time_offset(&self, offset: Duration) {
        self.lock().clock.offset = offset;
    }

    /// All received requests.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.lock().ledger.entries()
    }

    /// Forgets the ledger.
    pub fn clear_ledger(&self) {
        self.lock().ledger.clear();
    }

    /// Opens the named gate: requests a `hold` fault keeps go on, writes a `commit_late` fault
    /// dropped commit now. Stays open (later requests pass at once).
    pub fn open_gate(&self, name: &str) {
        self.gate(name).send_replace(true);
    }

    /// Waits until the named gate is open.
    pub(crate) async fn gate_opened(&self, name: &str) {
        let mut rx = self.gate(name).subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }

    fn gate(&self, name: &str) -> tokio::sync::watch::Sender<bool> {
        let mut gates = self.0.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry(name.to_owned())
            .or_insert_with(|| tokio::sync::watch::channel(false).0)
            .clone()
    }

    /// Adds a fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        self.lock().faults.add(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Active fault rules.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.lock().faults.rules()
    }

    /// Resets every rate-limit window.
    pub fn reset_rate_limits(&self) {
        self.lock().limits.clear();
    }

    /// Approves or disapproves the app for the Ads API (403 `UNAUTHORIZED_CLIENT_APPLICATION`).
    pub fn set_app_approved(&self, approved: bool) {
        self.lock().app_approved = approved;
    }

    /// All ads accounts.
    pub fn accounts(&self) -> Vec<Account> {
        self.lock().accounts.clone()
    }

    /// Funding instruments of an account.
    pub fn funding_instruments(&self, account_id: &str) -> Vec<FundingInstrument> {
        of_account(&self.lock().funding, account_id)
    }

    /// Campaigns of an account, deleted included.
    pub fn campaigns(&self, account_id: &str) -> Vec<Campaign> {
        of_account(&self.lock().campaigns, account_id)
    }

    /// Line items of an account, deleted included.
    pub fn line_items(&self, account_id: &str) -> Vec<LineItem> {
        of_account(&self.lock().line_items, account_id)
    }

    /// Promoted tweets of an account, deleted included.
    pub fn promoted_tweets(&self, account_id: &str) -> Vec<PromotedTweet> {
        of_account(&self.lock().promoted_tweets, account_id)
    }

    /// Targeting criteria of an account, deleted included.
    pub fn targeting_criteria(&self, account_id: &str) -> Vec<TargetingCriterion> {
        of_account(&self.lock().targeting, account_id)
    }

    /// Media library of an account, deleted included.
    pub fn media_library(&self, account_id: &str) -> Vec<MediaItem> {
        of_account(&self.lock().media, account_id)
    }

    /// X API v2 upload sessions (segments received, processing state), oldest first.
    pub fn uploads(&self) -> Vec<crate::media::Upload> {
        self.lock().uploads.clone()
    }

    /// Tweets an account can promote.
    pub fn tweets(&self, account_id: &str) -> Vec<Tweet> {
        self.lock()
            .tweets
            .iter()
            .filter(|t| t.account_id == account_id)
            .cloned()
            .collect()
    }

    /// Adds a promotable tweet to an account and returns its id.
    pub fn add_tweet(&self, account_id: &str, text: &str) -> String {
        let mut s = self.lock();
        let id = s.ids.decimal();
        let now = s.clock.now();
        s.tweets.push(Tweet {
            id: id.clone(),
            account_id: account_id.into(),
            text: text.into(),
            created_at: now,
        });
        id
    }

    /// Entity counts of an account, deleted included.
    pub fn counts(&self, account_id: &str) -> EntityCounts {
        let s = self.lock();
        let (campaigns, campaigns_deleted) = count(&s.campaigns, account_id);
        let (line_items, line_items_deleted) = count(&s.line_items, account_id);
        let (promoted_tweets, promoted_tweets_deleted) = count(&s.promoted_tweets, account_id);
        let (media, media_deleted) = count(&s.media, account_id);
        EntityCounts {
            campaigns,
            campaigns_deleted,
            line_items,
            line_items_deleted,
            promoted_tweets,
            promoted_tweets_deleted,
            media,
            media_deleted,
        }
    }

    /// Mints tokens for `user_id` directly (a new grant; the previous one of that user is revoked).
    pub fn issue_tokens(&self, user_id: &str, scope: &str) -> TokenPair {
        let ttl = self.config().access_token_ttl_secs;
        let client_id = self.config().client_id.clone();
        let mut s = self.lock();
        let now = s.clock.now();
        let grant = s.oauth.new_grant(&client_id, user_id, scope, now);
        s.oauth.issue(grant, ttl, now)
    }

    /// Expires every access token now (X answers 401 to them; refresh tokens keep working).
    pub fn expire_access_tokens(&self) {
        let mut s = self.lock();
        let now = s.clock.now();
        s.oauth.expire_access_tokens(now);
    }

    /// Revokes every grant of `user_id` (as if the user removed the app).
    pub fn revoke_grants_for_user(&self, user_id: &str) {
        let mut s = self.lock();
        let now = s.clock.now();
        s.oauth.revoke_user(user_id, now);
        s.oauth1.revoke_user(user_id);
    }

    /// Mints an OAuth 1.0a access token and secret for `user_id` without the browser flow.
    pub fn issue_oauth1_tokens(&self, user_id: &str) -> (String, String) {
        self.lock().oauth1.issue(user_id)
    }

    /// OAuth call counters (refresh calls etc.).
    pub fn oauth_counters(&self) -> OAuthCounters {
        self.lock().oauth.counters
    }

    /// Token families revoked by reuse detection (a used refresh token or authorization code
    /// presented again). A correct client never causes one.
    pub fn family_revocations(&self) -> Vec<FamilyRevocation> {
        self.lock()
            .oauth
            .revocations
            .iter()
            .filter(|r| r.reason == "refresh_token_reuse" || r.reason == "code_reuse")
            .cloned()
            .collect()
    }

    /// Every revoked grant with its reason (reuse, `superseded` by a newer grant, `revoked`, `control`).
    pub fn revocations(&self) -> Vec<FamilyRevocation> {
        self.lock().oauth.revocations.clone()
    }

    /// Grants not revoked.
    pub fn live_grants(&self) -> usize {
        self.lock().oauth.live_grants()
    }

    /// Late data: bumps the revision of `entity_id`'s `hour` (truncated to the hour); a campaign id
    /// revises each of its line items. Returns the new revision.
    pub fn revise(&self, entity_id: &str, hour: DateTime<Utc>) -> u32 {
        let hour = crate::stats::floor_hour(hour);
        let mut s = self.lock();
        let now = s.clock.now();
        let mut ids = vec![entity_id.to_string()];
        ids.extend(
            s.line_items
                .iter()
                .filter(|l| l.campaign_id == entity_id)
                .map(|l| l.id.clone()),
        );
        let mut last = 0;
        for id in ids {
            let revision = s.revision(&id, hour) + 1;
            s.revisions.push(Revision {
                entity_id: id,
                hour,
                revision,
                recorded_at: now,
            });
            last = last.max(revision);
        }
        last
    }

    /// A JSON snapshot of the world (the `/__fake/state` view).
    pub fn snapshot(&self) -> Value {
        let s = self.lock();
        let list = |v: Vec<Value>| Value::Array(v);
        json!({
            "now": crate::model::fmt_time(s.clock.now()),
            "seed": s.seed,
            "app_approved": s.app_approved,
            "accounts": list(s.accounts.iter().map(|a| {
                let mut j = a.to_json();
                j["owner_user_id"] = json!(a.owner_user_id);
                j
            }).collect()),
            "funding_instruments": list(s.funding.iter().map(Record::json).collect()),
            "campaigns": list(s.campaigns.iter().map(|c| {
                let mut j = c.to_json();
                j["account_id"] = json!(c.account_id);
                j
            }).collect()),
            "line_items": list(s.line_items.iter().map(|l| {
                let mut j = l.to_json();
                j["account_id"] = json!(l.account_id);
                j
            }).collect()),
            "promoted_tweets": list(s.promoted_tweets.iter().map(|p| {
                let mut j = p.to_json();
                j["account_id"] = json!(p.account_id);
                j
            }).collect()),
            "media_library": list(s.media.iter().map(|m| {
                let mut j = m.to_json();
                j["account_id"] = json!(m.account_id);
                j
            }).collect()),
            "tweets": list(s.tweets.iter().map(|t| json!({"id": t.id, "account_id": t.account_id, "text": t.text})).collect()),
            "oauth": {
                "counters": s.oauth.counters,
                "revocations": s.oauth.revocations,
                "live_grants": s.oauth.live_grants(),
            },
            "faults": s.faults.rules(),
        })
    }
}
