//! Analytics: the public deterministic metrics generator, synchronous stats with X's validation,
//! and active entities.
//!
//! Line items are the unit of delivery: `LINE_ITEM` stats are [`hourly_metrics`] of the line item
//! for the hours it served; `CAMPAIGN`, `FUNDING_INSTRUMENT` and `ACCOUNT` stats are sums of their
//! line items; `PROMOTED_TWEET` stats are [`hourly_metrics`] of the promoted tweet id for hours its
//! line item served. Only `ALL_ON_TWITTER` has data; other placements answer nulls.

use std::collections::HashMap;
use std::ops::Add;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::entities::{Ctx, account, ids_filter};
use crate::envelope::{ApiError, Params};
use crate::ids::{hash_str, mix};
use crate::model::{Campaign, LineItem, PromotedTweet, fmt_time};
use crate::state::State;
use crate::time::{local_midnight, parse_time, tz_of};

/// One hour of delivery of one entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HourMetrics {
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Engagements (≥ clicks).
    pub engagements: u64,
    /// Retweets.
    pub retweets: u64,
    /// Likes.
    pub likes: u64,
    /// Replies.
    pub replies: u64,
    /// Follows.
    pub follows: u64,
    /// Billed engagements.
    pub billed_engagements: u64,
    /// Spend in local micros of the funding instrument's currency; always whole currency units,
    /// so it is valid in 0-, 2- and 3-decimal currencies alike.
    pub billed_charge_local_micro: i64,
    /// Web conversions (purchases).
    pub conversions: u64,
    /// App installs after a view (`mobile_conversion_installs.post_view`); 0 for a line item
    /// whose objective is not an app one (see [`is_app_objective`]).
    pub installs_post_view: u64,
    /// App installs after an engagement (`mobile_conversion_installs.post_engagement`); 0 for a
    /// line item whose objective is not an app one.
    pub installs_post_engagement: u64,
}

/// Whether a line item's objective is an app one (`APP_INSTALLS`, `APP_ENGAGEMENTS`): only
/// such line items report installs.
pub fn is_app_objective(objective: &str) -> bool {
    matches!(objective, "APP_INSTALLS" | "APP_ENGAGEMENTS")
}

impl HourMetrics {
    /// These metrics with no installs (what a line item without an app objective reports).
    pub fn without_installs(self) -> HourMetrics {
        HourMetrics {
            installs_post_view: 0,
            installs_post_engagement: 0,
            ..self
        }
    }

    /// `post_view + post_engagement`: the installs xads stores.
    pub fn installs(&self) -> u64 {
        self.installs_post_view + self.installs_post_engagement
    }
}

impl Add for HourMetrics {
    type Output = HourMetrics;
    fn add(self, o: HourMetrics) -> HourMetrics {
        HourMetrics {
            impressions: self.impressions + o.impressions,
            clicks: self.clicks + o.clicks,
            engagements: self.engagements + o.engagements,
            retweets: self.retweets + o.retweets,
            likes: self.likes + o.likes,
            replies: self.replies + o.replies,
            follows: self.follows + o.follows,
            billed_engagements: self.billed_engagements + o.billed_engagements,
            billed_charge_local_micro: self.billed_charge_local_micro + o.billed_charge_local_micro,
            conversions: self.conversions + o.conversions,
            installs_post_view: self.installs_post_view + o.installs_post_view,
            installs_post_engagement: self.installs_post_engagement + o.installs_post_engagement,
        }
    }
}

/// Adds optional metrics: `None` only when both are `None` (X's null = no data).
pub fn add_opt(a: Option<HourMetrics>, b: Option<HourMetrics>) -> Option<HourMetrics> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(a + b),
    }
}

/// Truncates to the start of the hour.
pub fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

/// The deterministic generator: what `entity_id` delivered in `hour` (truncated to the hour) at
/// `revision` (0 = first report; each revision is late data that changes the numbers, spend
/// only downwards). `None` = no delivery that hour (about one hour in ten). Whether an entity was
/// serving at all is decided by the fake's state, not here; so is whether its installs count
/// (only under a line item with an app objective: [`HourMetrics::without_installs`] otherwise).
pub fn hourly_metrics(
    seed: u64,
    entity_id: &str,
    hour: DateTime<Utc>,
    revision: u32,
) -> Option<HourMetrics> {
    let hour = floor_hour(hour);
    let base = mix(hash_str(seed, entity_id) ^ mix(hour.timestamp() as u64));
    if base.is_multiple_of(10) {
        return None;
    }
    let r = |k: u64| mix(base ^ k.wrapping_mul(0x9E37_79B9));
    let rev = u64::from(revision);
    // A day curve: more delivery in the afternoon (UTC), never zero.
    let curve = 1 + (12 - (i64::from(hour.hour()) - 15).abs()).max(0) as u64;
    let impressions = 50 + r(1) % 150 * curve + rev * 13;
    let clicks = impressions * (5 + r(2) % 30) / 1000 + rev;
    let engagements = clicks + r(3) % (clicks / 2 + 2) + 2 * rev;
    let spend_units = (clicks * (1 + r(8) % 3)) as i64;
    Some(HourMetrics {
        impressions,
        clicks,
        engagements,
        retweets: r(4) % 4,
        likes: r(5) % (engagements / 4 + 1),
        replies: r(6) % 3,
        follows: r(7) % 3,
        billed_engagements: clicks,
        billed_charge_local_micro: (spend_units - rev as i64).max(0) * 1_000_000,
        conversions: clicks / 10 + r(9) % 2,
        installs_post_view: impressions / 400 + r(10) % 2,
        installs_post_engagement: clicks / 6 + r(11) % 3,
    })
}

/// A late-data revision of one hour of one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    /// Entity id.
    pub entity_id: String,
    /// The revised hour.
    pub hour: DateTime<Utc>,
    /// New revision number.
    pub revision: u32,
    /// When (fake clock) the revision was made.
    pub recorded_at: DateTime<Utc>,
}

/// Stats entity types.
pub const ENTITIES: &[&str] = &[
    "ACCOUNT",
    "CAMPAIGN",
    "FUNDING_INSTRUMENT",
    "LINE_ITEM",
    "PROMOTED_ACCOUNT",
    "PROMOTED_TWEET",
];
/// Stats placements.
pub const PLACEMENTS: &[&str] = &["ALL_ON_TWITTER", "SPOTLIGHT", "TREND", "PUBLISHER_NETWORK"];
/// Granularities.
pub const GRANULARITIES: &[&str] = &["DAY", "HOUR", "TOTAL"];

/// How far before an active-entities window delivery still counts as activity (hours).
pub const ACTIVITY_LOOKBACK_HOURS: i64 = 24;
/// Metric groups.
pub const GROUPS: &[&str] = &[
    "ENGAGEMENT",
    "BILLING",
    "VIDEO",
    "WEB_CONVERSION",
    "MOBILE_CONVERSION",
    "LIFE_TIME_VALUE_MOBILE_CONVERSION",
];

/// A delivering unit: a line item, or a promoted tweet under its line item.
enum Leaf<'a> {
    Li(&'a LineItem, Option<&'a Campaign>),
    Pt(&'a PromotedTweet, &'a LineItem, Option<&'a Campaign>),
}

struct World<'a> {
    s: &'a State,
    seed: u64,
    now: DateTime<Utc>,
    campaigns: HashMap<&'a str, &'a Campaign>,
    line_items: HashMap<&'a str, &'a LineItem>,
}

impl<'a> World<'a> {
    fn new(s: &'a State, seed: u64, account_id: &str) -> Self {
        World {
            s,
            seed,
            now: s.clock.now(),
            campaigns: s
                .campaigns
                .iter()
                .filter(|c| c.account_id == account_id)
                .map(|c| (c.id.as_str(), c))
                .collect(),
            line_items: s
                .line_items
                .iter()
                .filter(|l| l.account_id == account_id)
                .map(|l| (l.id.as_str(), l))
                .collect(),
        }
    }

    fn leaves(&self, account_id: &str, entity: &str, id: &str) -> Vec<Leaf<'a>> {
        let li_leaf =
            |l: &'a LineItem| Leaf::Li(l, self.campaigns.get(l.campaign_id.as_str()).copied());
        let lis = self
            .s
            .line_items
            .iter()
            .filter(|l| l.account_id == account_id);
        match entity {
            "ACCOUNT" if id == account_id => lis.map(li_leaf).collect(),
            "CAMPAIGN" => lis.filter(|l| l.campaign_id == id).map(li_leaf).collect(),
            "FUNDING_INSTRUMENT" => lis
                .filter(|l| l.funding_instrument_id == id)
                .map(li_leaf)
                .collect(),
            "LINE_ITEM" => lis.filter(|l| l.id == id).map(li_leaf).collect(),
            "PROMOTED_TWEET" => self
                .s
                .promoted_tweets
                .iter()
                .filter(|p| p.account_id == account_id && p.id == id)
                .filter_map(|p| {
                    let l = self.line_items.get(p.line_item_id.as_str())?;
                    Some(Leaf::Pt(
                        p,
                        l,
                        self.campaigns.get(l.campaign_id.as_str()).copied(),
                    ))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn li_serves(&self, l: &LineItem, c: Option<&Campaign>, h: DateTime<Utc>) -> bool {
        let hour = Duration::hours(1);
        h <= self.now
            && l.serving.served_during(h, hour)
            && c.is_none_or(|c| c.serving.served_during(h, hour))
            && l.start_time.is_none_or(|s| s < h + hour)
            && l.end_time.is_none_or(|e| e > h)
    }

    /// What `leaf` delivered in hour `h` on the analytics `placement`: `ALL_ON_TWITTER` uses the
    /// generator keyed by the entity id, `PUBLISHER_NETWORK` the one keyed by
    /// `<id>:PUBLISHER_NETWORK`; a line item delivers only on the placements it runs on.
    fn leaf_hour(&self, leaf: &Leaf<'_>, h: DateTime<Utc>, placement: &str) -> Option<HourMetrics> {
        let (li, id) = match leaf {
            Leaf::Li(l, _) => (*l, l.id.as_str()),
            Leaf::Pt(p, l, _) => (*l, p.id.as_str()),
        };
        if !li.analytics_placements().contains(&placement) {
            return None;
        }
        let serves = match leaf {
            Leaf::Li(l, c) => self.li_serves(l, *c, h),
            Leaf::Pt(p, l, c) => {
                self.li_serves(l, *c, h) && p.serving.served_during(h, Duration::hours(1))
            }
        };
        if !serves {
            return None;
        }
        let key = if placement == "ALL_ON_TWITTER" {
            id.to_string()
        } else {
            format!("{id}:{placement}")
        };
        let m = hourly_metrics(self.seed, &key, h, self.s.revision(id, h))?;
        Some(if is_app_objective(&li.objective) {
            m
        } else {
            m.without_installs()
        })
    }

    /// The generator key of `leaf` on `placement` (what [`Self::leaf_hour`] feeds the generator).
    fn leaf_key(leaf: &Leaf<'_>, placement: &str) -> String {
        let id = Self::leaf_id(leaf);
        if placement == "ALL_ON_TWITTER" {
            id.to_string()
        } else {
            format!("{id}:{placement}")
        }
    }

    /// Whether `id` names an entity of this account (deleted ones included: they have history).
    fn knows(&self, account_id: &str, entity: &str, id: &str) -> bool {
        let s = self.s;
        match entity {
            "ACCOUNT" => id == account_id,
            "CAMPAIGN" => self.campaigns.contains_key(id),
            "LINE_ITEM" => self.line_items.contains_key(id),
            "FUNDING_INSTRUMENT" => s
                .funding
                .iter()
                .any(|f| f.account_id == account_id && f.id == id),
            "PROMOTED_TWEET" => s
                .promoted_tweets
                .iter()
                .any(|p| p.account_id == account_id && p.id == id),
            _ => false,
        }
    }

    fn leaf_id<'b>(leaf: &'b Leaf<'_>) -> &'b str {
        match leaf {
            Leaf::Li(l, _) => &l.id,
            Leaf::Pt(p, _, _) => &p.id,
        }
    }
}

fn whole_hours(name: &str, raw: &str, tz: Tz) -> Result<DateTime<Utc>, ApiError> {
    let t = parse_time(raw, tz).ok_or_else(|| {
        ApiError::invalid(name, format!("Expected time, got \"{raw}\" for {name}"))
    })?;
    if t.minute() != 0 || t.second() != 0 || t.nanosecond() != 0 {
        return Err(ApiError::invalid(
            name,
            format!("{name} must be a whole hour (minutes and seconds 0)"),
        ));
    }
    Ok(t)
}

fn window(p: &Params, tz: Tz, max_days: i64) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let start = whole_hours("start_time", p.require("start_time")?, tz)?;
    let end = whole_hours("end_time", p.require("end_time")?, tz)?;
    if end <= start {
        return Err(ApiError::invalid(
            "end_time",
            "end_time must be after start_time",
        ));
    }
    if end - start > Duration::days(max_days) {
        return Err(ApiError::invalid(
            "end_time",
            format!(
                "The time span between start_time and end_time must be at most {max_days} days"
            ),
        ));
    }
    Ok((start, end))
}

fn buckets(
    granularity: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tz: Tz,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    match granularity {
        "TOTAL" => vec![(start, end)],
        "HOUR" => {
            let mut out = Vec::new();
            let mut t = start;
            while t < end {
                out.push((t, t + Duration::hours(1)));
                t += Duration::hours(1);
            }
            out
        }
        _ => {
            let mut out = Vec::new();
            let mut t = start;
            while t < end {
                let day = t.with_timezone(&tz).date_naive();
                let next = day
                    .succ_opt()
                    .and_then(|d| local_midnight(d, tz))
                    .unwrap_or(end)
                    .min(end);
                out.push((t, next));
                t = next;
            }
            out
        }
    }
}

fn is_local_midnight(t: DateTime<Utc>, tz: Tz) -> bool {
    let local = t.with_timezone(&tz);
    local.hour() == 0 && local.minute() == 0 && local.second() == 0
}

fn series(values: &[Option<HourMetrics>], f: impl Fn(&HourMetrics) -> i64) -> Value {
    if values.iter().all(Option::is_none) {
        return Value::Null;
    }
    Value::Array(
        values
            .iter()
            .map(|v| json!(v.as_ref().map_or(0, &f)))
            .collect(),
    )
}

fn metrics_json(groups: &[String], values: &[Option<HourMetrics>]) -> Value {
    let mut m = Map::new();
    let null = |m: &mut Map<String, Value>, keys: &[&str]| {
        for k in keys {
            m.insert((*k).to_string(), Value::Null);
        }
    };
    for g in groups {
        match g.as_str() {
            "ENGAGEMENT" => {
                m.insert(
                    "impressions".into(),
                    series(values, |v| v.impressions as i64),
                );
                m.insert(
                    "engagements".into(),
                    series(values, |v| v.engagements as i64),
                );
                m.insert("retweets".into(), series(values, |v| v.retweets as i64));
                m.insert("replies".into(), series(values, |v| v.replies as i64));
                m.insert("likes".into(), series(values, |v| v.likes as i64));
                m.insert("follows".into(), series(values, |v| v.follows as i64));
                m.insert("clicks".into(), series(values, |v| v.clicks as i64));
                m.insert("url_clicks".into(), series(values, |v| v.clicks as i64));
                null(
                    &mut m,
                    &[
                        "card_engagements",
                        "app_clicks",
                        "qualified_impressions",
                        "carousel_swipes",
                        "tweets_send",
                        "poll_card_vote",
                        "unfollows",
                    ],
                );
            }
            "BILLING" => {
                m.insert(
                    "billed_engagements".into(),
                    series(values, |v| v.billed_engagements as i64),
                );
                m.insert(
                    "billed_charge_local_micro".into(),
                    series(values, |v| v.billed_charge_local_micro),
                );
            }
            "VIDEO" => null(
                &mut m,
                &[
                    "video_total_views",
                    "video_views_25",
                    "video_views_50",
                    "video_views_75",
                    "video_views_100",
                    "video_cta_clicks",
                    "video_content_starts",
                    "video_3s100pct_views",
                    "video_6s_views",
                    "video_15s_views",
                ],
            ),
            "WEB_CONVERSION" => {
                let conv = series(values, |v| v.conversions as i64);
                let purchases = if conv.is_null() {
                    Value::Null
                } else {
                    json!({
                        "metric": conv,
                        "order_quantity": conv,
                        "sale_amount": series(values, |v| v.conversions as i64 * 25_000_000),
                        "post_view": series(values, |_| 0),
                        "post_engagement": conv,
                    })
                };
                m.insert("conversion_purchases".into(), purchases);
                null(
                    &mut m,
                    &[
                        "conversion_sign_ups",
                        "conversion_site_visits",
                        "conversion_downloads",
                        "conversion_custom",
                        "conversion_add_to_carts",
                        "conversion_checkouts_initiated",
                        "conversion_content_views",
                        "conversion_payment_info_additions",
                        "conversion_add_to_wishlists",
                        "conversion_searches",
                        "conversion_landing_page_views",
                        "conversion_subscriptions",
                    ],
                );
            }
            "MOBILE_CONVERSION" => {
                let installs = if values.iter().all(Option::is_none) {
                    Value::Null
                } else {
                    json!({
                        "post_view": series(values, |v| v.installs_post_view as i64),
                        "post_engagement": series(values, |v| v.installs_post_engagement as i64),
                        "assisted": series(values, |v| (v.installs() / 4) as i64),
                        "order_quantity": series(values, |_| 0),
                        "sale_amount": series(values, |_| 0),
                    })
                };
                m.insert("mobile_conversion_installs".into(), installs);
                for k in [
                    "spent_credits",
                    "content_views",
                    "add_to_wishlists",
                    "checkouts_initiated",
                    "reservations",
                    "tutorials_completed",
                    "achievements_unlocked",
                    "searches",
                    "add_to_carts",
                    "payment_info_additions",
                    "re_engages",
                    "shares",
                    "rates",
                    "logins",
                    "updates",
                    "levels_achieved",
                    "invites",
                    "key_page_views",
                    "downloads",
                    "purchases",
                    "sign_ups",
                    "site_visits",
                ] {
                    m.insert(format!("mobile_conversion_{k}"), Value::Null);
                }
            }
            _ => {
                for k in ["purchases", "sign_ups", "updates", "installs"] {
                    m.insert(format!("mobile_conversion_lifetime_value_{k}"), Value::Null);
                }
            }
        }
    }
    Value::Object(m)
}

/// A validated stats request: the synchronous call's, or an asynchronous job's (then with a
/// segmentation, a longer span allowed).
#[derive(Debug, Clone, PartialEq)]
pub struct StatsRequest {
    /// Entity type.
    pub entity: String,
    /// Entity ids.
    pub ids: Vec<String>,
    /// Window start.
    pub start: DateTime<Utc>,
    /// Window end (exclusive).
    pub end: DateTime<Utc>,
    /// `DAY`, `HOUR` or `TOTAL`.
    pub granularity: String,
    /// One placement.
    pub placement: String,
    /// Metric groups.
    pub groups: Vec<String>,
    /// Jobs only: the segmentation.
    pub segmentation: Option<String>,
    /// Jobs only: the country of a geo segmentation.
    pub country: Option<String>,
    /// Jobs only: the platform filter (echoed; the fake does not narrow by it).
    pub platform: Option<String>,
    /// The account's time zone (DAY buckets).
    pub tz: Tz,
}

impl StatsRequest {
    /// Validates `p` as X does: the synchronous rules (≤ 20 ids, whole hours, ≤ 7 days, DAY at
    /// local midnights, one placement, groups per entity, ids of this account), or for a job
    /// (`job`) ≤ 90 days, ≤ 45 segmented, METROS with a country, CONVERSION_TAGS with
    /// WEB_CONVERSION alone.
    pub fn parse(
        s: &State,
        seed: u64,
        account_id: &str,
        p: &Params,
        tz: Tz,
        job: bool,
    ) -> Result<StatsRequest, ApiError> {
        let entity = p.require("entity")?.to_string();
        if !ENTITIES.contains(&entity.as_str()) {
            return Err(ApiError::invalid(
                "entity",
                format!(
                    "Expected one of [{}], got \"{entity}\" for entity",
                    ENTITIES.join(", ")
                ),
            ));
        }
        p.require("entity_ids")?;
        let ids = p.list("entity_ids");
        if ids.len() > 20 {
            return Err(ApiError::invalid(
                "entity_ids",
                format!(
                    "Expected at most 20 items, got {} for entity_ids",
                    ids.len()
                ),
            ));
        }
        let segmentation = if job {
            p.get("segmentation_type")
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        } else {
            None
        };
        if let Some(seg) = &segmentation
            && !crate::jobs::SEGMENTATION_TYPES.contains(&seg.as_str())
        {
            return Err(ApiError::invalid(
                "segmentation_type",
                format!(
                    "Expected one of [{}], got \"{seg}\" for segmentation_type",
                    crate::jobs::SEGMENTATION_TYPES.join(", ")
                ),
            ));
        }
        let max_days = match (job, &segmentation) {
            (false, _) => 7,
            (true, None) => crate::jobs::MAX_SPAN_DAYS,
            (true, Some(_)) => crate::jobs::MAX_SEGMENTED_SPAN_DAYS,
        };
        let (start, end) = window(p, tz, max_days)?;
        let granularity = p.require("granularity")?.to_string();
        if !GRANULARITIES.contains(&granularity.as_str()) {
            return Err(ApiError::invalid(
                "granularity",
                format!(
                    "Expected one of [DAY, HOUR, TOTAL], got \"{granularity}\" for granularity"
                ),
            ));
        }
        if granularity == "DAY" {
            for (name, t) in [("start_time", start), ("end_time", end)] {
                if !is_local_midnight(t, tz) {
                    return Err(ApiError::invalid(
                        name,
                        format!(
                            "{name} must be midnight in the account timezone ({tz}) for granularity DAY"
                        ),
                    ));
                }
            }
        }
        let placement = p.require("placement")?.to_string();
        if placement.contains(',') {
            return Err(ApiError::invalid(
                "placement",
                "Expected exactly one placement",
            ));
        }
        if !PLACEMENTS.contains(&placement.as_str()) {
            return Err(ApiError::invalid(
                "placement",
                format!(
                    "Expected one of [{}], got \"{placement}\" for placement",
                    PLACEMENTS.join(", ")
                ),
            ));
        }
        p.require("metric_groups")?;
        let groups = p.list("metric_groups");
        if let Some(bad) = groups.iter().find(|g| !GROUPS.contains(&g.as_str())) {
            return Err(ApiError::invalid(
                "metric_groups",
                format!(
                    "Expected one of [{}], got \"{bad}\" for metric_groups",
                    GROUPS.join(", ")
                ),
            ));
        }
        let allowed: &[&str] = match entity.as_str() {
            "ACCOUNT" => &["ENGAGEMENT"],
            "FUNDING_INSTRUMENT" => &["ENGAGEMENT", "BILLING"],
            _ => GROUPS,
        };
        if let Some(bad) = groups.iter().find(|g| !allowed.contains(&g.as_str())) {
            return Err(ApiError::invalid(
                "metric_groups",
                format!("{bad} is not supported for entity {entity}"),
            ));
        }
        // x-ads-api.md: "request MOBILE_CONVERSION separately".
        if groups.len() > 1 && groups.iter().any(|g| g == "MOBILE_CONVERSION") {
            return Err(ApiError::invalid(
                "metric_groups",
                "MOBILE_CONVERSION must be requested on its own",
            ));
        }
        let country = p
            .get("country")
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        match segmentation.as_deref() {
            Some("METROS") if country.is_none() => {
                return Err(ApiError::invalid(
                    "country",
                    "country is required for segmentation_type METROS",
                ));
            }
            Some("CONVERSION_TAGS") if groups != ["WEB_CONVERSION"] => {
                return Err(ApiError::invalid(
                    "segmentation_type",
                    "segmentation_type CONVERSION_TAGS is only supported with metric_groups WEB_CONVERSION",
                ));
            }
            _ => {}
        }
        let world = World::new(s, seed, account_id);
        // X does not document its answer for ids that are not the account's; the fake refuses
        // them rather than answer nulls that look like "no delivery".
        let unknown: Vec<&str> = ids
            .iter()
            .filter(|id| !world.knows(account_id, &entity, id))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::invalid(
                "entity_ids",
                format!(
                    "Unknown {entity} id(s) for account {account_id}: {}",
                    unknown.join(", ")
                ),
            ));
        }
        Ok(StatsRequest {
            entity,
            ids,
            start,
            end,
            granularity,
            placement,
            groups,
            segmentation,
            country: if job {
                p.get("country")
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            } else {
                None
            },
            platform: if job {
                p.get("platform")
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            } else {
                None
            },
            tz,
        })
    }
}

/// The answer to `r` now: X's stats body (`data_type`, `time_series_length`, `data`,
/// `request.params`), also the content of a job's result file.
pub fn stats_body(s: &State, seed: u64, account_id: &str, r: &StatsRequest) -> Value {
    let world = World::new(s, seed, account_id);
    let buckets = buckets(&r.granularity, r.start, r.end, r.tz);
    let segs = r
        .segmentation
        .as_deref()
        .map(|seg| segments_of(seed, account_id, seg, r.country.as_deref()));
    let data: Vec<Value> = r
        .ids
        .iter()
        .map(|id| {
            let leaves = world.leaves(account_id, &r.entity, id);
            let Some((seg_type, segs)) = r.segmentation.as_deref().zip(segs.as_ref()) else {
                let values: Vec<Option<HourMetrics>> = buckets
                    .iter()
                    .map(|(from, to)| {
                        let mut acc = None;
                        let mut h = *from;
                        while h < *to {
                            for leaf in &leaves {
                                acc = add_opt(acc, world.leaf_hour(leaf, h, &r.placement));
                            }
                            h += Duration::hours(1);
                        }
                        acc
                    })
                    .collect();
                return json!({ "id": id, "id_data": [ { "segment": null, "metrics": metrics_json(&r.groups, &values) } ] });
            };
            // Each leaf-hour is split across the segments, so every segment series sums (over
            // segments) to the unsegmented one, at every granularity and entity level.
            let mut per_segment: Vec<Vec<Option<HourMetrics>>> = vec![Vec::new(); segs.len()];
            for (from, to) in &buckets {
                let mut accs: Vec<Option<HourMetrics>> = vec![None; segs.len()];
                let mut h = *from;
                while h < *to {
                    for leaf in &leaves {
                        if let Some(m) = world.leaf_hour(leaf, h, &r.placement) {
                            let key = World::leaf_key(leaf, &r.placement);
                            for (k, part) in split_hour(seed, &key, h, seg_type, m, segs.len())
                                .into_iter()
                                .enumerate()
                            {
                                accs[k] = add_opt(accs[k], Some(part));
                            }
                        }
                    }
                    h += Duration::hours(1);
                }
                for (k, a) in accs.into_iter().enumerate() {
                    per_segment[k].push(a);
                }
            }
            let id_data: Vec<Value> = segs
                .iter()
                .zip(per_segment)
                .filter(|(_, values)| values.iter().any(Option::is_some))
                .map(|(seg, values)| {
                    json!({
                        "segment": { "segment_name": seg.name, "segment_value": seg.value },
                        "metrics": metrics_json(&r.groups, &values),
                    })
                })
                .collect();
            json!({ "id": id, "id_data": id_data })
        })
        .collect();
    let params = json!({
        "start_time": fmt_time(r.start),
        "segmentation_type": r.segmentation,
        "entity_ids": r.ids,
        "end_time": fmt_time(r.end),
        "country": r.country,
        "placement": r.placement,
        "granularity": r.granularity,
        "entity": r.entity,
        "platform": r.platform,
        "metric_groups": r.groups,
    });
    json!({
        "data_type": "stats",
        "time_series_length": buckets.len(),
        "data": data,
        "request": { "params": params },
    })
}

/// One segment of a segmentation: what X shows and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentDef {
    /// `segment_name`.
    pub name: String,
    /// `segment_value`.
    pub value: String,
}

/// The United States' targeting value (x-ads-api.md).
pub const US_COUNTRY: &str = "96683cc9126741d1";

/// The segments a segmentation splits into, in the order they are answered. METROS: five US
/// metros for [`US_COUNTRY`], three generic ones elsewhere; CONVERSION_TAGS: the account's two
/// website tags. Values are X-like but the fake's own (X publishes no segmented example).
pub fn segments_of(
    seed: u64,
    account_id: &str,
    segmentation: &str,
    country: Option<&str>,
) -> Vec<SegmentDef> {
    let seg = |name: &str, value: &str| SegmentDef {
        name: name.into(),
        value: value.into(),
    };
    match segmentation {
        "AGE" => vec![
            seg("Age 13 to 24", "AGE_13_TO_24"),
            seg("Age 25 to 34", "AGE_25_TO_34"),
            seg("Age 35 to 49", "AGE_35_TO_49"),
            seg("Age 50 and up", "AGE_50_AND_UP"),
        ],
        "GENDER" => vec![seg("Male", "1"), seg("Female", "2")],
        "PLATFORMS" => vec![seg("iOS", "0"), seg("Android", "1"), seg("Desktop", "4")],
        "METROS" => {
            let country = country.unwrap_or_default();
            let names: Vec<String> = if country == US_COUNTRY {
                [
                    "New York, NY",
                    "Los Angeles, CA",
                    "Chicago, IL",
                    "Dallas-Ft. Worth, TX",
                    "San Francisco-Oakland-San Jose, CA",
                ]
                .iter()
                .map(|n| (*n).to_string())
                .collect()
            } else {
                (1..=3).map(|i| format!("Metro {i} of {country}")).collect()
            };
            names
                .iter()
                .map(|n| seg(n, &format!("{:016x}", hash_str(0, n))))
                .collect()
        }
        _ => (1..=2)
            .map(|i| {
                seg(
                    &format!("Website tag {i}"),
                    &crate::ids::base36(
                        hash_str(seed, &format!("{account_id}:tag:{i}")) % 36u64.pow(5),
                    ),
                )
            })
            .collect(),
    }
}

/// Splits one leaf-hour `m` (generator key `key`) into `n` segments of `segmentation`:
/// deterministic weights from the hash of (key, hour, segmentation, segment), every field
/// divided by cumulative floors so the parts sum to `m` exactly; spend is split in whole
/// currency units, so every part stays valid in 0-decimal currencies.
pub fn split_hour(
    seed: u64,
    key: &str,
    hour: DateTime<Utc>,
    segmentation: &str,
    m: HourMetrics,
    n: usize,
) -> Vec<HourMetrics> {
    if n == 0 {
        return Vec::new();
    }
    let hour = floor_hour(hour);
    let base =
        mix(hash_str(seed, key) ^ mix(hour.timestamp() as u64) ^ hash_str(seed, segmentation));
    let weights: Vec<u128> = (0..n as u64)
        .map(|k| 1 + u128::from(mix(base ^ (k + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 100))
        .collect();
    let total: u128 = weights.iter().sum();
    let cuts: Vec<u128> = weights
        .iter()
        .scan(0u128, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect();
    let part = |v: u64, k: usize| -> u64 {
        let v = u128::from(v);
        let hi = v * cuts[k] / total;
        let lo = if k == 0 { 0 } else { v * cuts[k - 1] / total };
        (hi - lo) as u64
    };
    let units = (m.billed_charge_local_micro / 1_000_000).max(0) as u64;
    (0..n)
        .map(|k| HourMetrics {
            impressions: part(m.impressions, k),
            clicks: part(m.clicks, k),
            engagements: part(m.engagements, k),
            retweets: part(m.retweets, k),
            likes: part(m.likes, k),
            replies: part(m.replies, k),
            follows: part(m.follows, k),
            billed_engagements: part(m.billed_engagements, k),
            billed_charge_local_micro: part(units, k) as i64 * 1_000_000,
            conversions: part(m.conversions, k),
            installs_post_view: part(m.installs_post_view, k),
            installs_post_engagement: part(m.installs_post_engagement, k),
        })
        .collect()
}

/// `GET /12/stats/accounts/:account_id` (synchronous analytics).
pub async fn stats(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    let seed = ctx.st.config().seed;
    ctx.run(echo, |s| {
        let tz = tz_of(&account(s, &ctx.who, &account_id)?.timezone);
        let request = StatsRequest::parse(s, seed, &account_id, &ctx.p, tz, false)?;
        Ok(Json(stats_body(s, seed, &account_id, &request)).into_response())
    })
}

/// `GET /12/stats/accounts/:account_id/active_entities`.
pub async fn active_entities(ctx: Ctx, Path(account_id): Path<String>) -> Response {
    let echo = ctx.p.echo(&[("account_id", &account_id)]);
    let seed = ctx.st.config().seed;
    ctx.run(echo.clone(), |s| {
        let tz = tz_of(&account(s, &ctx.who, &account_id)?.timezone);
        let p = &ctx.p;
        let entity = p.require("entity")?.to_string();
        if ![
            "CAMPAIGN",
            "FUNDING_INSTRUMENT",
            "LINE_ITEM",
            "PROMOTED_ACCOUNT",
            "PROMOTED_TWEET",
        ]
        .contains(&entity.as_str())
        {
            return Err(ApiError::invalid(
                "entity",
                format!("Unsupported entity \"{entity}\" for entity"),
            ));
        }
        let (start, end) = window(p, tz, 90)?;
        let filters: Vec<(&str, Vec<String>)> =
            ["campaign_ids", "funding_instrument_ids", "line_item_ids"]
                .into_iter()
                .filter_map(|n| ids_filter(p, n).transpose().map(|r| r.map(|v| (n, v))))
                .collect::<Result<_, _>>()?;
        if filters.len() > 1 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "EXCLUSIVE_PARAMETERS",
                "campaign_ids, funding_instrument_ids and line_item_ids are mutually exclusive",
                Some(filters[1].0),
            ));
        }
        let world = World::new(s, seed, &account_id);
        let li_ok = |l: &LineItem| match filters.first() {
            None => true,
            Some(("campaign_ids", ids)) => ids.contains(&l.campaign_id),
            Some(("funding_instrument_ids", ids)) => ids.contains(&l.funding_instrument_id),
            Some((_, ids)) => ids.contains(&l.id),
        };
        let candidates: Vec<String> = match entity.as_str() {
            "CAMPAIGN" => s
                .campaigns
                .iter()
                .filter(|c| c.account_id == account_id)
                .filter(|c| {
                    s.line_items
                        .iter()
                        .any(|l| l.campaign_id == c.id && li_ok(l))
                })
                .map(|c| c.id.clone())
                .collect(),
            "FUNDING_INSTRUMENT" => s
                .funding
                .iter()
                .filter(|f| f.account_id == account_id)
                .map(|f| f.id.clone())
                .collect(),
            "LINE_ITEM" => s
                .line_items
                .iter()
                .filter(|l| l.account_id == account_id && li_ok(l))
                .map(|l| l.id.clone())
                .collect(),
            "PROMOTED_TWEET" => s
                .promoted_tweets
                .iter()
                .filter(|p| p.account_id == account_id)
                .filter(|p| {
                    world
                        .line_items
                        .get(p.line_item_id.as_str())
                        .is_some_and(|l| li_ok(l))
                })
                .map(|p| p.id.clone())
                .collect(),
            _ => Vec::new(),
        };
        let hour = Duration::hours(1);
        // Metrics of an hour keep changing for a day after it (X: non-spend metrics are final
        // after 24 h), so a window also reports delivery of the day before it, as X's examples
        // do (activity starting before start_time).
        let from = start - Duration::hours(ACTIVITY_LOOKBACK_HOURS);
        let stop = end.min(floor_hour(world.now) + hour);
        let mut data = Vec::new();
        for id in candidates {
            let leaves: Vec<Leaf<'_>> = world
                .leaves(&account_id, &entity, &id)
                .into_iter()
                .filter(|l| match l {
                    Leaf::Li(li, _) | Leaf::Pt(_, li, _) => li_ok(li),
                })
                .collect();
            let mut first: Option<DateTime<Utc>> = None;
            let mut last: Option<DateTime<Utc>> = None;
            let mut placements: Vec<&str> = Vec::new();
            let mut see = |h: DateTime<Utc>, pl: &'static str| {
                first = Some(first.map_or(h, |f| f.min(h)));
                last = Some(last.map_or(h, |l| l.max(h)));
                if !placements.contains(&pl) {
                    placements.push(pl);
                }
            };
            for leaf in &leaves {
                let (created, leaf_id, li) = match leaf {
                    Leaf::Li(l, _) => (l.created_at, World::leaf_id(leaf), *l),
                    Leaf::Pt(p, l, _) => (p.created_at, World::leaf_id(leaf), *l),
                };
                for pl in li.analytics_placements() {
                    let mut h = from.max(floor_hour(created));
                    while h < stop {
                        if world.leaf_hour(leaf, h, pl).is_some() {
                            see(h, pl);
                        }
                        h += hour;
                    }
                    // Late data recorded in the window counts as activity for the hour it changed.
                    for r in s.revisions.iter().filter(|r| {
                        r.entity_id == leaf_id && r.recorded_at >= start && r.recorded_at < end
                    }) {
                        see(r.hour, pl);
                    }
                }
            }
            if let (Some(f), Some(l)) = (first, last) {
                // X reports the moments metrics changed, to the second, not whole hours.
                let jitter = |h: DateTime<Utc>, salt: u64| {
                    Duration::seconds(
                        (mix(hash_str(seed, &id) ^ mix(h.timestamp() as u64 ^ salt)) % 1800) as i64,
                    )
                };
                let activity_end = (l + Duration::minutes(30) + jitter(l, 2)).min(world.now);
                let activity_start = (f + jitter(f, 1)).min(activity_end);
                placements.sort_by_key(|p| *p != "ALL_ON_TWITTER");
                data.push(json!({
                    "entity_id": id,
                    "activity_start_time": fmt_time(activity_start),
                    "activity_end_time": fmt_time(activity_end),
                    "placements": placements,
                }));
            }
        }
        Ok(Json(json!({ "request": { "params": echo }, "data": data })).into_response())
    })
}
