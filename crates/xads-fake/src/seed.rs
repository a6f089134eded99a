//! The deterministic seeded world: users, ad accounts in three currencies, funding instruments,
//! tweets, campaigns, line items, promoted tweets and media.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use crate::config::FakeConfig;
use crate::faults::Faults;
use crate::ids::IdGen;
use crate::ledger::Ledger;
use crate::model::{
    Account, Campaign, FundingInstrument, LineItem, MediaItem, PromotedTweet, ServingLog, Tweet,
};
use crate::oauth2::OAuthState;
use crate::ratelimit::RateLimiter;
use crate::state::{Clock, State};

/// The fixed id of the seeded USD account (the id in X's docs examples).
pub const USD_ACCOUNT_ID: &str = "18ce54d4x5t";

/// Ids of one seeded account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeedAccount {
    /// Account id.
    pub id: String,
    /// Owner user id.
    pub user_id: String,
    /// Currency of its funding instrument.
    pub currency: String,
    /// IANA timezone.
    pub timezone: String,
    /// Its funding instrument.
    pub funding_instrument_id: String,
    /// Promotable tweet ids.
    pub tweet_ids: Vec<String>,
    /// Seeded campaigns.
    pub campaign_ids: Vec<String>,
    /// Seeded line items.
    pub line_item_ids: Vec<String>,
    /// Seeded promoted tweets.
    pub promoted_tweet_ids: Vec<String>,
    /// Seeded media keys.
    pub media_keys: Vec<String>,
}

/// Ids of the seeded world.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeedInfo {
    /// The main X user (owns the USD, JPY and KWD accounts; authorize approves as this user).
    pub user_id: String,
    /// Its handle.
    pub screen_name: String,
    /// Another X user, owner of `foreign_account_id`.
    pub other_user_id: String,
    /// USD, America/Los_Angeles.
    pub usd_account_id: String,
    /// JPY (0 decimals), Asia/Tokyo.
    pub jpy_account_id: String,
    /// KWD (3 decimals), Asia/Kuwait.
    pub kwd_account_id: String,
    /// Belongs to `other_user_id`: the main user gets 403 `ACCOUNT_NOT_FOUND`.
    pub foreign_account_id: String,
    /// Details per account, in the order above.
    pub accounts: Vec<SeedAccount>,
}

impl SeedInfo {
    /// The seeded details of one account.
    pub fn account(&self, id: &str) -> Option<&SeedAccount> {
        self.accounts.iter().find(|a| a.id == id)
    }
}

/// A daily budget that covers what the generator spends in a day (~2 000 USD), in the currency's
/// precision (all in micros).
fn daily_budget(currency: &str) -> i64 {
    match currency {
        "JPY" => 300_000 * 1_000_000,
        "KWD" => 600_500_000,
        _ => 2_000_000_000,
    }
}

pub(crate) fn build(cfg: &FakeConfig) -> State {
    let clock = Clock::new(cfg.start_time);
    let now = clock.now();
    let origin = (now - Duration::days(cfg.history_days))
        .duration_trunc(Duration::hours(1))
        .unwrap_or(now);
    let mut ids = IdGen::new(cfg.seed);
    let user_id = "756201191646691328".to_string();
    let other_user_id = "1480000000000000001".to_string();

    let mut st = State {
        clock,
        ids: ids.clone(),
        seed: SeedInfo {
            user_id: user_id.clone(),
            screen_name: "fake_advertiser".into(),
            other_user_id: other_user_id.clone(),
            usd_account_id: String::new(),
            jpy_account_id: String::new(),
            kwd_account_id: String::new(),
            foreign_account_id: String::new(),
            accounts: Vec::new(),
        },
        accounts: Vec::new(),
        funding: Vec::new(),
        campaigns: Vec::new(),
        line_items: Vec::new(),
        promoted_tweets: Vec::new(),
        targeting: Vec::new(),
        tweets: Vec::new(),
        media: Vec::new(),
        uploads: Vec::new(),
        oauth: OAuthState::default(),
        oauth1: Default::default(),
        ledger: Ledger::new(cfg.ledger_capacity),
        faults: Faults::default(),
        limits: RateLimiter::default(),
        revisions: Vec::new(),
        app_approved: cfg.app_approved,
        jobs: Vec::new(),
        job_settings: crate::jobs::JobSettings::from_config(cfg),
        media_origin: None,
    };

    let specs = [
        (
            Some(USD_ACCOUNT_ID.to_string()),
            "API McTestface",
            "America/Los_Angeles",
            "USD",
            &user_id,
        ),
        (None, "Tokyo Growth", "Asia/Tokyo", "JPY", &user_id),
        (None, "Kuwait Growth", "Asia/Kuwait", "KWD", &user_id),
        (None, "Someone Else", "Europe/London", "GBP", &other_user_id),
    ];
    for (n, (fixed, name, tz, currency, owner)) in specs.into_iter().enumerate() {
        let id = fixed.unwrap_or_else(|| ids.entity());
        let created = origin - Duration::days(10) + Duration::minutes(n as i64);
        st.accounts.push(Account {
            id: id.clone(),
            name: name.into(),
            timezone: tz.into(),
            owner_user_id: owner.clone(),
            created_at: created,
            updated_at: created,
            deleted: false,
        });
        let seeded = seed_account(
            cfg, &mut st, &mut ids, &id, owner, currency, created, origin,
        );
        let mut info = seeded;
        info.timezone = tz.into();
        match n {
            0 => st.seed.usd_account_id = id,
            1 => st.seed.jpy_account_id = id,
            2 => st.seed.kwd_account_id = id,
            _ => st.seed.foreign_account_id = id,
        }
        st.seed.accounts.push(info);
    }
    st.ids = ids;
    st
}

#[allow(clippy::too_many_arguments)]
fn seed_account(
    cfg: &FakeConfig,
    st: &mut State,
    ids: &mut IdGen,
    account_id: &str,
    owner: &str,
    currency: &str,
    created: DateTime<Utc>,
    origin: DateTime<Utc>,
) -> SeedAccount {
    let fi_id = ids.entity();
    st.funding.push(FundingInstrument {
        id: fi_id.clone(),
        account_id: account_id.into(),
        currency: currency.into(),
        kind: "CREDIT_CARD".into(),
        description: "Visa ending in 0650".into(),
        credit_limit_local_micro: daily_budget(currency) * 1000,
        start_time: created,
        created_at: created,
        updated_at: created,
        deleted: false,
    });
    let mut info = SeedAccount {
        id: account_id.into(),
        user_id: owner.into(),
        currency: currency.into(),
        timezone: String::new(),
        funding_instrument_id: fi_id.clone(),
        tweet_ids: Vec::new(),
        campaign_ids: Vec::new(),
        line_item_ids: Vec::new(),
        promoted_tweet_ids: Vec::new(),
        media_keys: Vec::new(),
    };
    for t in 0..cfg.tweets_per_account {
        let id = ids.decimal();
        st.tweets.push(Tweet {
            id: id.clone(),
            account_id: account_id.into(),
            text: format!("Try our app, offer #{}", t + 1),
            created_at: created + Duration::hours(t as i64),
        });
        info.tweet_ids.push(id);
    }
    let mut tweet_cycle = info.tweet_ids.iter().cycle();
    let mut minute = 0i64;
    // The USD account's app campaigns come after the others, so the web ones keep their place.
    let apps = if account_id == USD_ACCOUNT_ID {
        cfg.app_campaigns
    } else {
        0
    };
    for c in 0..cfg.campaigns_per_account + apps {
        minute += 1;
        let at = origin + Duration::minutes(minute);
        // The app campaign's number, if it is one (all its line items share one app objective,
        // as X wants a campaign's line items to).
        let app = c.checked_sub(cfg.campaigns_per_account);
        // Every third campaign is paused so stats have both data and nulls; app ones run.
        let status = if c % 3 == 2 && app.is_none() {
            "PAUSED"
        } else {
            "ACTIVE"
        };
        let cid = ids.entity();
        st.campaigns.push(Campaign {
            id: cid.clone(),
            account_id: account_id.into(),
            name: match app {
                None => format!("Campaign {}", c + 1),
                Some(k) => format!("App campaign {}", k + 1),
            },
            funding_instrument_id: fi_id.clone(),
            currency: currency.into(),
            daily_budget_amount_local_micro: Some(daily_budget(currency)),
            total_budget_amount_local_micro: Some(daily_budget(currency) * 30),
            entity_status: status.into(),
            purchase_order_number: None,
            standard_delivery: Some(true),
            created_at: at,
            updated_at: at,
            deleted: false,
            serving: ServingLog::starting(at, status == "ACTIVE"),
        });
        info.campaign_ids.push(cid.clone());
        let (objective, goal, pay_by) = match app.map(|k| k % 2) {
            None => ("WEBSITE_CLICKS", "LINK_CLICKS", "LINK_CLICK"),
            Some(0) => ("APP_INSTALLS", "APP_INSTALLS", "IMPRESSION"),
            Some(_) => ("APP_ENGAGEMENTS", "APP_CLICKS", "APP_CLICK"),
        };
        for l in 0..cfg.line_items_per_campaign {
            minute += 1;
            let at = origin + Duration::minutes(minute);
            let li_status = if l % 4 == 3 { "PAUSED" } else { "ACTIVE" };
            let lid = ids.entity();
            st.line_items.push(LineItem {
                id: lid.clone(),
                account_id: account_id.into(),
                campaign_id: cid.clone(),
                funding_instrument_id: fi_id.clone(),
                currency: currency.into(),
                name: Some(format!("Campaign {} / Ad group {}", c + 1, l + 1)),
                objective: objective.into(),
                product_type: "PROMOTED_TWEETS".into(),
                // Every second line item also runs on the publisher network, so active
                // entities and stats show several placements, as X's examples do.
                placements: if l % 2 == 1 {
                    vec!["ALL_ON_TWITTER".into(), "PUBLISHER_NETWORK".into()]
                } else {
                    vec!["ALL_ON_TWITTER".into()]
                },
                bid_strategy: "AUTO".into(),
                bid_amount_local_micro: None,
                goal: Some(goal.into()),
                pay_by: Some(pay_by.into()),
                start_time: Some(at),
                end_time: None,
                daily_budget_amount_local_micro: None,
                total_budget_amount_local_micro: None,
                standard_delivery: None,
                entity_status: li_status.into(),
                advertiser_user_id: owner.into(),
                created_at: at,
                updated_at: at,
                deleted: false,
                serving: ServingLog::starting(at, li_status == "ACTIVE"),
            });
            info.line_item_ids.push(lid.clone());
            for _ in 0..cfg.promoted_tweets_per_line_item {
                let Some(tweet) = tweet_cycle.next() else {
                    break;
                };
                let pid = ids.entity();
                st.promoted_tweets.push(PromotedTweet {
                    id: pid.clone(),
                    account_id: account_id.into(),
                    line_item_id: lid.clone(),
                    tweet_id: tweet.clone(),
                    entity_status: "ACTIVE".into(),
                    created_at: at,
                    updated_at: at,
                    deleted: false,
                    serving: ServingLog::starting(at, true),
                });
                info.promoted_tweet_ids.push(pid);
            }
        }
    }
    for m in 0..cfg.media_per_account {
        let media_id = ids.decimal();
        let (prefix, category, kind) = match m % 3 {
            0 => ("3", "TWEET_IMAGE", "IMAGE"),
            1 => ("13", "AMPLIFY_VIDEO", "VIDEO"),
            _ => ("16", "TWEET_GIF", "GIF"),
        };
        let key = format!("{prefix}_{media_id}");
        let at = created + Duration::minutes(m as i64);
        st.media.push(MediaItem {
            media_key: key.clone(),
            account_id: account_id.into(),
            media_category: category.into(),
            media_type: kind.into(),
            name: Some(format!("creative-{}", m + 1)),
            file_name: Some(format!("creative-{}.bin", m + 1)),
            title: None,
            description: None,
            poster_media_key: None,
            created_at: at,
            updated_at: at,
            deleted: false,
        });
        info.media_keys.push(key);
    }
    info
}
