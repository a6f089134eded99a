//! The fake's entities, with the JSON shapes of X's v12 examples (docs-x fixtures).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// Formats a time the way X answers: UTC, whole seconds, `Z`.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| Value::String(fmt_time(t))).unwrap_or(Value::Null)
}

/// When an entity was serving (`ACTIVE` and not deleted); drives which hours have stats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServingLog(Vec<(DateTime<Utc>, bool)>);

impl ServingLog {
    /// A log starting at `at` in the given serving state.
    pub fn starting(at: DateTime<Utc>, serving: bool) -> Self {
        ServingLog(vec![(at, serving)])
    }

    /// Records a state change at `at` (only when the state changes).
    pub fn record(&mut self, at: DateTime<Utc>, serving: bool) {
        if self.0.last().map(|(_, s)| *s) != Some(serving) {
            self.0.push((at, serving));
        }
    }

    /// Whether the entity served at any moment in `[from, from + len)`.
    pub fn served_during(&self, from: DateTime<Utc>, len: Duration) -> bool {
        let to = from + len;
        self.0.iter().enumerate().any(|(i, (t, serving))| {
            let next = self.0.get(i + 1).map(|(n, _)| *n);
            *serving && *t < to && next.is_none_or(|n| n > from)
        })
    }
}

/// An ads account; X's accounts carry no currency (funding instruments do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Base-36 id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// IANA timezone, e.g. `America/Los_Angeles`.
    pub timezone: String,
    /// The X user who can access it.
    pub owner_user_id: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Deleted flag.
    pub deleted: bool,
}

impl Account {
    /// X's JSON for this account.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "business_name": null,
            "timezone": self.timezone,
            "timezone_switch_at": fmt_time(self.created_at),
            "id": self.id,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
            "industry_type": "MOBILE",
            "business_id": null,
            "approval_status": "ACCEPTED",
            "deleted": self.deleted,
        })
    }
}

/// A funding instrument; its `currency` is the account's money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingInstrument {
    /// Base-36 id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// ISO-4217 code.
    pub currency: String,
    /// e.g. `CREDIT_CARD`.
    pub kind: String,
    /// Human description.
    pub description: String,
    /// Credit limit in local micros.
    pub credit_limit_local_micro: i64,
    /// Start of funding.
    pub start_time: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Deleted flag.
    pub deleted: bool,
}

impl FundingInstrument {
    /// X's JSON for this funding instrument.
    pub fn to_json(&self) -> Value {
        json!({
            "start_time": fmt_time(self.start_time),
            "description": self.description,
            "credit_limit_local_micro": self.credit_limit_local_micro,
            "end_time": null,
            "id": self.id,
            "entity_status": "ACTIVE",
            "account_id": self.account_id,
            "reasons_not_able_to_fund": [],
            "io_header": null,
            "currency": self.currency,
            "funded_amount_local_micro": 0,
            "created_at": fmt_time(self.created_at),
            "type": self.kind,
            "able_to_fund": true,
            "updated_at": fmt_time(self.updated_at),
            "credit_remaining_local_micro": null,
            "deleted": self.deleted,
        })
    }
}

/// A campaign (v12 shape: no flight dates, `entity_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// Base-36 id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Name (≤ 255).
    pub name: String,
    /// Funding instrument paying for it.
    pub funding_instrument_id: String,
    /// Currency of the funding instrument.
    pub currency: String,
    /// Daily budget in local micros.
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Total budget in local micros.
    pub total_budget_amount_local_micro: Option<i64>,
    /// ACTIVE, PAUSED or DRAFT.
    pub entity_status: String,
    /// Purchase order number.
    pub purchase_order_number: Option<String>,
    /// Standard (vs accelerated) delivery.
    pub standard_delivery: Option<bool>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Deleted flag.
    pub deleted: bool,
    /// When it served (for stats).
    pub serving: ServingLog,
}

/// X's `effective_status`, `servable` and `reasons_not_servable` of a campaign. `incomplete` =
/// it has no live line item. Shapes from X's fixtures: a new PAUSED campaign is `UNKNOWN` with
/// `[PAUSED_BY_ADVERTISER, INCOMPLETE]` (docs-x campaigns_post), an ACTIVE one without line items is
/// not servable with `[INCOMPLETE]` (SDK campaigns_all), a deleted one answers `servable: null` and
/// no reasons (docs-x campaigns_delete).
fn servable(status: &str, deleted: bool, incomplete: bool) -> (Value, Value, Value) {
    if deleted {
        return (json!("RUNNING"), Value::Null, json!([]));
    }
    let mut reasons = Vec::new();
    if status == "PAUSED" {
        reasons.push("PAUSED_BY_ADVERTISER");
    }
    if incomplete || status == "DRAFT" {
        reasons.push("INCOMPLETE");
    }
    let effective = match (status, incomplete || status == "DRAFT") {
        ("ACTIVE", false) => "RUNNING",
        ("PAUSED", false) => "PAUSED",
        _ => "UNKNOWN",
    };
    (json!(effective), json!(reasons.is_empty()), json!(reasons))
}

impl Campaign {
    /// X's JSON for this campaign, assuming it has live line items (see [`Campaign::to_json_with`]).
    pub fn to_json(&self) -> Value {
        self.to_json_with(false)
    }

    /// X's JSON for this campaign; `incomplete` = it has no live line item (not servable).
    pub fn to_json_with(&self, incomplete: bool) -> Value {
        let (effective, servable, reasons) =
            servable(&self.entity_status, self.deleted, incomplete);
        json!({
            "name": self.name,
            "budget_optimization": "LINE_ITEM",
            "reasons_not_servable": reasons,
            "servable": servable,
            "purchase_order_number": self.purchase_order_number,
            "effective_status": effective,
            "daily_budget_amount_local_micro": self.daily_budget_amount_local_micro,
            "funding_instrument_id": self.funding_instrument_id,
            "duration_in_days": null,
            "standard_delivery": self.standard_delivery,
            "total_budget_amount_local_micro": self.total_budget_amount_local_micro,
            "id": self.id,
            "entity_status": self.entity_status,
            "frequency_cap": null,
            "currency": self.currency,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
            "deleted": self.deleted,
        })
    }
}

/// A line item (X's ad group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    /// Base-36 id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Parent campaign.
    pub campaign_id: String,
    /// Funding instrument (of the campaign).
    pub funding_instrument_id: String,
    /// Currency (of the funding instrument).
    pub currency: String,
    /// Optional name.
    pub name: Option<String>,
    /// Objective enum.
    pub objective: String,
    /// Product type enum.
    pub product_type: String,
    /// Placements.
    pub placements: Vec<String>,
    /// AUTO, MAX or TARGET.
    pub bid_strategy: String,
    /// Bid in local micros.
    pub bid_amount_local_micro: Option<i64>,
    /// Goal enum.
    pub goal: Option<String>,
    /// Pay-by enum.
    pub pay_by: Option<String>,
    /// Flight start.
    pub start_time: Option<DateTime<Utc>>,
    /// Flight end.
    pub end_time: Option<DateTime<Utc>>,
    /// Daily budget in local micros.
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Total budget in local micros.
    pub total_budget_amount_local_micro: Option<i64>,
    /// Standard (vs accelerated) delivery; `None` answers `null`.
    pub standard_delivery: Option<bool>,
    /// ACTIVE, PAUSED or DRAFT.
    pub entity_status: String,
    /// Advertiser user (the account owner).
    pub advertiser_user_id: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Deleted flag.
    pub deleted: bool,
    /// When it served (for stats).
    pub serving: ServingLog,
}

impl LineItem {
    /// X's JSON for this line item.
    pub fn to_json(&self) -> Value {
        json!({
            "advertiser_user_id": self.advertiser_user_id,
            "name": self.name,
            "placements": self.placements,
            "start_time": opt_time(self.start_time),
            "bid_amount_local_micro": self.bid_amount_local_micro,
            "advertiser_domain": null,
            "target_cpa_local_micro": null,
            "primary_web_event_tag": null,
            "goal": self.goal,
            "daily_budget_amount_local_micro": self.daily_budget_amount_local_micro,
            "product_type": self.product_type,
            "end_time": opt_time(self.end_time),
            "funding_instrument_id": self.funding_instrument_id,
            "bid_strategy": self.bid_strategy,
            "duration_in_days": null,
            "standard_delivery": self.standard_delivery,
            "total_budget_amount_local_micro": self.total_budget_amount_local_micro,
            "objective": self.objective,
            "id": self.id,
            "entity_status": self.entity_status,
            "automatic_tweet_promotion": null,
            "frequency_cap": null,
            "android_app_store_identifier": null,
            "categories": [],
            "currency": self.currency,
            "pay_by": self.pay_by,
            "created_at": fmt_time(self.created_at),
            "ios_app_store_identifier": null,
            "updated_at": fmt_time(self.updated_at),
            "campaign_id": self.campaign_id,
            "creative_source": "MANUAL",
            "deleted": self.deleted,
        })
    }
}

impl LineItem {
    /// X's JSON in the answer of a single POST, PUT or DELETE: X documents `funding_instrument_id`
    /// for reads only, and its write examples leave it out (docs-x line_items_post/put/delete;
    /// batch answers keep it, as docs-x batch_line_items_response does).
    pub fn to_write_json(&self) -> Value {
        let mut v = self.to_json();
        if let Some(m) = v.as_object_mut() {
            m.remove("funding_instrument_id");
        }
        v
    }

    /// The analytics placements this line item delivers in: `ALL_ON_TWITTER` for any on-X
    /// placement, `PUBLISHER_NETWORK` for the publisher network.
    pub fn analytics_placements(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self
            .placements
            .iter()
            .any(|p| p == "ALL_ON_TWITTER" || p.starts_with("TWITTER_"))
        {
            out.push("ALL_ON_TWITTER");
        }
        if self
            .placements
            .iter()
            .any(|p| p == "PUBLISHER_NETWORK" || p.starts_with("TAP_"))
        {
            out.push("PUBLISHER_NETWORK");
        }
        out
    }
}

/// A tweet attached to a line item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotedTweet {
    /// Base-36 id (not the tweet id).
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Line item it is attached to.
    pub line_item_id: String,
    /// Decimal tweet id.
    pub tweet_id: String,
    /// ACTIVE (X answers PAUSED only for deleted ones in its UI).
    pub entity_status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Deleted flag.
    pub deleted: bool,
    /// When it served (for stats).
    pub serving: ServingLog,
}

impl PromotedTweet {
    /// X's JSON for this promoted tweet.
    pub fn to_json(&self) -> Value {
        json!({
            "line_item_id": self.line_item_id,
            "id": self.id,
            "entity_status": self.entity_status,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
            "approval_status": "ACCEPTED",
            "tweet_id": self.tweet_id,
            "deleted": self.deleted,
        })
    }
}

/// A tweet an account can promote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tweet {
    /// Decimal id.
    pub id: String,
    /// Account whose user posted it.
    pub account_id: String,
    /// Text.
    pub text: String,
    /// Posted.
    pub created_at: DateTime<Utc>,
}

impl Tweet {
    /// X's `GET accounts/:id/tweets` JSON: the field set of the v12 docs example (creatives
    /// reference, "GET accounts/:account_id/tweets"). The fake's tweets are published,
    /// nullcasted, by the account's owner; `trim_user` leaves the user object with its ids only.
    ///
    /// A tweet whose id is even carries one image (`entities.media[0].media_url_https`, on the
    /// fake's own CDN when `origin` is set), as a tweet with a picture does at X.
    pub fn to_json(
        &self,
        user_id: &str,
        screen_name: &str,
        trim_user: bool,
        origin: Option<&str>,
    ) -> Value {
        let uid: u64 = user_id.parse().unwrap_or(0);
        let user = if trim_user {
            json!({ "id": uid, "id_str": user_id })
        } else {
            json!({
                "id": uid,
                "id_str": user_id,
                "name": screen_name,
                "screen_name": screen_name,
                "protected": false,
                "verified": false,
                "lang": null,
                "time_zone": null,
                "utc_offset": null,
            })
        };
        let mut entities =
            json!({ "hashtags": [], "symbols": [], "user_mentions": [], "urls": [] });
        if self.id.ends_with(['0', '2', '4', '6', '8']) {
            let image = crate::cdn::url(
                origin,
                format!("https://pbs.twimg.com/media/tw{}.jpg", self.id),
            );
            entities["media"] = json!([{
                "id_str": self.id, "type": "photo",
                "media_url_https": image,
            }]);
        }
        json!({
            "coordinates": null,
            "retweeted": false,
            "name": null,
            "source": "<a href=\"https://ads-api.x.com\" rel=\"nofollow\">Ads API Internal Test App</a>",
            "entities": entities,
            "display_text_range": [0, self.text.chars().count()],
            "favorite_count": 0,
            "in_reply_to_status_id_str": null,
            "geo": null,
            "id_str": self.id,
            "scopes": { "followers": false },
            "in_reply_to_user_id": null,
            "truncated": false,
            "retweet_count": 0,
            "id": self.id.parse::<u64>().unwrap_or(0),
            "in_reply_to_status_id": null,
            "conversation_settings": "EVERYONE",
            "nullcast": true,
            "created_at": self.created_at.format("%a %b %d %H:%M:%S +0000 %Y").to_string(),
            "place": null,
            "scheduled_at": null,
            "tweet_type": "PUBLISHED",
            "favorited": false,
            "full_text": self.text,
            "lang": "en",
            "contributors": null,
            "in_reply_to_screen_name": null,
            "in_reply_to_user_id_str": null,
            "user": user,
            "tweet_id": self.id,
        })
    }
}

/// A media-library item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaItem {
    /// `<prefix>_<media id>`.
    pub media_key: String,
    /// Owning account.
    pub account_id: String,
    /// TWEET_IMAGE, TWEET_GIF, AMPLIFY_VIDEO…
    pub media_category: String,
    /// IMAGE, GIF or VIDEO.
    pub media_type: String,
    /// Optional name.
    pub name: Option<String>,
    /// Optional file name.
    pub file_name: Option<String>,
    /// Optional title (video).
    pub title: Option<String>,
    /// Optional description (video).
    pub description: Option<String>,
    /// Optional poster (video).
    pub poster_media_key: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Deleted flag.
    pub deleted: bool,
}

impl MediaItem {
    fn media_id(&self) -> &str {
        self.media_key.split_once('_').map_or("", |(_, id)| id)
    }

    /// X's JSON for this media-library item.
    pub fn to_json(&self) -> Value {
        self.to_json_at(None)
    }

    /// [`MediaItem::to_json`], its URLs on the fake's own CDN when `origin` is set
    /// ([`crate::cdn`]).
    pub fn to_json_at(&self, origin: Option<&str>) -> Value {
        let cdn = |u: String| json!(crate::cdn::url(origin, u));
        let id = self.media_id();
        let mut v = json!({
            "tweeted": false,
            "name": self.name,
            "file_name": self.file_name,
            "media_category": self.media_category,
            "media_key": self.media_key,
            "created_at": fmt_time(self.created_at),
            "media_status": "TRANSCODE_COMPLETED",
            "media_type": self.media_type,
            "updated_at": fmt_time(self.updated_at),
            "deleted": self.deleted,
        });
        let m = v.as_object_mut().expect("object");
        if self.media_type == "GIF" {
            // X serves GIFs as looping videos: the video-like field set with no duration
            // (docs-x media_library_put).
            m.insert(
                "media_url".into(),
                cdn(format!("https://video.twimg.com/tweet_video/{id}.mp4")),
            );
            m.insert("duration".into(), Value::Null);
            m.insert("title".into(), json!(self.title));
            m.insert("description".into(), json!(self.description));
            m.insert("poster_media_key".into(), json!(self.poster_media_key));
            m.insert(
                "poster_media_url".into(),
                cdn(format!("https://pbs.twimg.com/tweet_video_thumb/{id}.jpg")),
            );
            m.insert("aspect_ratio".into(), json!("1:1"));
        } else if self.media_type == "VIDEO" {
            m.insert(
                "media_url".into(),
                cdn(format!(
                    "https://video.twimg.com/amplify_video/{id}/vid/1280x720/fake.mp4"
                )),
            );
            m.insert("duration".into(), json!(15_000));
            m.insert("title".into(), json!(self.title));
            m.insert("description".into(), json!(self.description));
            m.insert("poster_media_key".into(), json!(self.poster_media_key));
            m.insert(
                "poster_media_url".into(),
                cdn(format!(
                    "https://pbs.twimg.com/amplify_video_thumb/{id}/img/fake.jpg"
                )),
            );
            m.insert("aspect_ratio".into(), json!("16:9"));
        } else {
            m.insert(
                "media_url".into(),
                cdn(format!("https://pbs.twimg.com/media/{id}.jpg")),
            );
        }
        v
    }
}

/// A targeting criterion of a line item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetingCriterion {
    /// Base-36 id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Line item it narrows.
    pub line_item_id: String,
    /// e.g. `LOCATION`, `BROAD_KEYWORD`.
    pub targeting_type: String,
    /// e.g. a location id or a keyword.
    pub targeting_value: String,
    /// EQ (default), GTE, LT or NE.
    pub operator_type: String,
    /// Display name.
    pub name: String,
    /// For LOCATION criteria, e.g. `CITY` or `COUNTRIES`.
    pub location_type: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Deleted flag.
    pub deleted: bool,
}

impl TargetingCriterion {
    /// X's JSON for this criterion (`location_type` only on locations, as in X's examples).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "line_item_id": self.line_item_id,
            "name": self.name,
            "id": self.id,
            "operator_type": self.operator_type,
            "created_at": fmt_time(self.created_at),
            "targeting_value": self.targeting_value,
            "updated_at": fmt_time(self.updated_at),
            "deleted": self.deleted,
            "targeting_type": self.targeting_type,
        });
        if let Some(t) = &self.location_type {
            v["location_type"] = json!(t);
        }
        v
    }
}

/// Common view over list-able entities so paging/sorting/deleting is written once.
pub trait Record {
    /// The entity's id (media key for media items).
    fn rid(&self) -> &str;
    /// Owning account.
    fn account(&self) -> &str;
    /// Created.
    fn created(&self) -> DateTime<Utc>;
    /// Last changed.
    fn updated(&self) -> DateTime<Utc>;
    /// Deleted flag.
    fn is_deleted(&self) -> bool;
    /// Marks deleted at `at`.
    fn mark_deleted(&mut self, at: DateTime<Utc>);
    /// Name used by `q` filters.
    fn name_for_q(&self) -> Option<&str>;
    /// X's JSON.
    fn json(&self) -> Value;
    /// Draft entities are hidden from lists unless `with_draft=true`.
    fn is_draft(&self) -> bool {
        false
    }
}

macro_rules! record {
    ($t:ty, $id:ident, $acct:ident, $name:expr, $serving:expr, $draft:expr) => {
        impl Record for $t {
            fn rid(&self) -> &str {
                &self.$id
            }
            fn account(&self) -> &str {
                &self.$acct
            }
            fn created(&self) -> DateTime<Utc> {
                self.created_at
            }
            fn updated(&self) -> DateTime<Utc> {
                self.updated_at
            }
            fn is_deleted(&self) -> bool {
                self.deleted
            }
            fn mark_deleted(&mut self, at: DateTime<Utc>) {
                self.deleted = true;
                self.updated_at = at;
                let f: fn(&mut $t, DateTime<Utc>) = $serving;
                f(self, at);
            }
            fn name_for_q(&self) -> Option<&str> {
                let f: fn(&$t) -> Option<&str> = $name;
                f(self)
            }
            fn json(&self) -> Value {
                self.to_json()
            }
            fn is_draft(&self) -> bool {
                let f: fn(&$t) -> bool = $draft;
                f(self)
            }
        }
    };
}

record!(Account, id, id, |a| Some(&a.name), |_, _| {}, |_| false);
record!(
    FundingInstrument,
    id,
    account_id,
    |f| Some(&f.description),
    |_, _| {},
    |_| false
);
record!(
    Campaign,
    id,
    account_id,
    |c| Some(&c.name),
    |c, at| c.serving.record(at, false),
    |c| c.entity_status == "DRAFT"
);
record!(
    LineItem,
    id,
    account_id,
    |l| l.name.as_deref(),
    |l, at| l.serving.record(at, false),
    |l| l.entity_status == "DRAFT"
);
record!(
    PromotedTweet,
    id,
    account_id,
    |_| None,
    |p, at| p.serving.record(at, false),
    |_| false
);
record!(
    MediaItem,
    media_key,
    account_id,
    |m| m.name.as_deref(),
    |_, _| {},
    |_| false
);
record!(
    TargetingCriterion,
    id,
    account_id,
    |t| Some(&t.name),
    |_, _| {},
    |_| false
);
impl Record for Tweet {
    fn rid(&self) -> &str {
        &self.id
    }
    fn account(&self) -> &str {
        &self.account_id
    }
    fn created(&self) -> DateTime<Utc> {
        self.created_at
    }
    fn updated(&self) -> DateTime<Utc> {
        self.created_at
    }
    fn is_deleted(&self) -> bool {
        false
    }
    fn mark_deleted(&mut self, _: DateTime<Utc>) {}
    fn name_for_q(&self) -> Option<&str> {
        None
    }
    fn json(&self) -> Value {
        self.to_json("", "", true, None)
    }
}
