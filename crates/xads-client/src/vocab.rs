//! X's vocabularies, once: the enumerated values of the Ads API v12 that xads sends, validates or
//! stores (objectives, product types, placements, bid strategies, goals, pay-by, stats entities,
//! granularities, stats placements, metric groups, job segmentation types), and the table of stats metrics.
//!
//! Every enum carries X's exact wire strings: `as_str`, `FromStr` (strict: an unknown value is an
//! [`UnknownValue`]), `Display`, serde as the wire string, and `ALL` in X's documented order.
//! [`EntityStatus`](crate::models::EntityStatus) is the one open vocabulary (X's answers may carry
//! statuses added later); it lives with the wire models and is re-exported here.
//!
//! The fake X (`xads-fake`) keeps its own copy of these lists on purpose, so it does not share
//! our mistakes; `tests/client/vocab.rs` compares the two.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::models::EntityStatus;
use crate::models::Metrics;

/// A value outside a vocabulary.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not one of {allowed}")]
pub struct UnknownValue {
    /// Which vocabulary (`objective`, `placement`, …).
    pub vocabulary: &'static str,
    /// The value given.
    pub value: String,
    /// The allowed wire strings, comma-separated, in X's order.
    pub allowed: String,
}

macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $wire, "`")] $variant ),+
        }

        impl $name {
            /// Every value, in X's documented order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire strings of [`Self::ALL`], in the same order.
            pub const WIRE: &'static [&'static str] = &[$($wire),+];
            /// What the vocabulary is called (for messages).
            pub const NAME: &'static str = $what;

            /// The wire form.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        vocabulary: $what,
                        value: s.to_owned(),
                        allowed: Self::WIRE.join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

vocabulary! {
    /// A line item's `objective` (v12).
    Objective("objective") {
        AppEngagements = "APP_ENGAGEMENTS",
        AppInstalls = "APP_INSTALLS",
        Reach = "REACH",
        Followers = "FOLLOWERS",
        Engagements = "ENGAGEMENTS",
        VideoViews = "VIDEO_VIEWS",
        PrerollViews = "PREROLL_VIEWS",
        WebsiteClicks = "WEBSITE_CLICKS",
        WebsiteConversions = "WEBSITE_CONVERSIONS",
    }
}

impl Objective {
    /// The objectives of app campaigns: their installs come with `MOBILE_CONVERSION`.
    pub const APP: [Objective; 2] = [Objective::AppInstalls, Objective::AppEngagements];

    /// Whether this is an app objective ([`Self::APP`]).
    pub fn is_app(self) -> bool {
        Self::APP.contains(&self)
    }
}

vocabulary! {
    /// A line item's `product_type`.
    ProductType("product_type") {
        Media = "MEDIA",
        PromotedAccount = "PROMOTED_ACCOUNT",
        PromotedTweets = "PROMOTED_TWEETS",
    }
}

vocabulary! {
    /// A line item's `placements` member (where it serves). Not the stats `placement`
    /// ([`Placement`]), which is a different list.
    LineItemPlacement("placement") {
        AllOnTwitter = "ALL_ON_TWITTER",
        PublisherNetwork = "PUBLISHER_NETWORK",
        TapBanner = "TAP_BANNER",
        TapFull = "TAP_FULL",
        TapFullLandscape = "TAP_FULL_LANDSCAPE",
        TapNative = "TAP_NATIVE",
        TapMrect = "TAP_MRECT",
        TwitterProfile = "TWITTER_PROFILE",
        TwitterReplies = "TWITTER_REPLIES",
        TwitterSearch = "TWITTER_SEARCH",
        TwitterTimeline = "TWITTER_TIMELINE",
    }
}

vocabulary! {
    /// A line item's `bid_strategy` (v10+; pre-v10 `bid_type`).
    BidStrategy("bid_strategy") {
        Auto = "AUTO",
        Max = "MAX",
        Target = "TARGET",
    }
}

vocabulary! {
    /// A line item's `pay_by` (v10+; pre-v10 `charge_by`). The reference lists APP_CLICK,
    /// IMPRESSION and LINK_CLICK; X's own v12 answers (docs examples, captured responses) carry
    /// ENGAGEMENT.
    PayBy("pay_by") {
        AppClick = "APP_CLICK",
        Impression = "IMPRESSION",
        LinkClick = "LINK_CLICK",
        Engagement = "ENGAGEMENT",
    }
}

vocabulary! {
    /// A line item's optimisation `goal` (v10+; pre-v10 `bid_unit`/`optimization`).
    Goal("goal") {
        AppClicks = "APP_CLICKS",
        AppInstalls = "APP_INSTALLS",
        AppPurchases = "APP_PURCHASES",
        Engagement = "ENGAGEMENT",
        Followers = "FOLLOWERS",
        LinkClicks = "LINK_CLICKS",
        MaxReach = "MAX_REACH",
        Preroll = "PREROLL",
        PrerollStarts = "PREROLL_STARTS",
        ReachWithEngagement = "REACH_WITH_ENGAGEMENT",
        SiteVisits = "SITE_VISITS",
        VideoView = "VIDEO_VIEW",
        View3s100pct = "VIEW_3S_100PCT",
        View6s = "VIEW_6S",
        View15s = "VIEW_15S",
        WebsiteConversions = "WEBSITE_CONVERSIONS",
    }
}

vocabulary! {
    /// `entity` of a stats or active-entities call. ACCOUNT is for stats only (ENGAGEMENT only);
    /// FUNDING_INSTRUMENT supports ENGAGEMENT and BILLING only.
    StatsEntityType("entity") {
        Account = "ACCOUNT",
        Campaign = "CAMPAIGN",
        FundingInstrument = "FUNDING_INSTRUMENT",
        LineItem = "LINE_ITEM",
        PromotedAccount = "PROMOTED_ACCOUNT",
        PromotedTweet = "PROMOTED_TWEET",
    }
}

vocabulary! {
    /// `granularity` of a stats call: one value per hour, per account-local day, or in total.
    Granularity("granularity") {
        Hour = "HOUR",
        Day = "DAY",
        Total = "TOTAL",
    }
}

vocabulary! {
    /// `placement` of a stats call (exactly one per call). PUBLISHER_NETWORK left the docs in
    /// 2026 but is still seen.
    Placement("placement") {
        AllOnTwitter = "ALL_ON_TWITTER",
        PublisherNetwork = "PUBLISHER_NETWORK",
        Spotlight = "SPOTLIGHT",
        Trend = "TREND",
    }
}

vocabulary! {
    /// A member of a stats call's `metric_groups`. MOBILE_CONVERSION must be requested alone.
    MetricGroup("metric_group") {
        Engagement = "ENGAGEMENT",
        Billing = "BILLING",
        Video = "VIDEO",
        WebConversion = "WEB_CONVERSION",
        MobileConversion = "MOBILE_CONVERSION",
        LifeTimeValueMobileConversion = "LIFE_TIME_VALUE_MOBILE_CONVERSION",
    }
}

vocabulary! {
    /// `segmentation_type` of an asynchronous stats job (the types X enables as of May 2026).
    /// METROS needs a `country`; CONVERSION_TAGS works with WEB_CONVERSION only.
    SegmentationType("segmentation_type") {
        Age = "AGE",
        Gender = "GENDER",
        Platforms = "PLATFORMS",
        Metros = "METROS",
        ConversionTags = "CONVERSION_TAGS",
    }
}

/// One stats metric as X sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// The key in a stats response's `metrics`.
    pub name: &'static str,
    /// The `metric_groups` member that brings it.
    pub group: MetricGroup,
    /// Money in micro-units of the entity's currency.
    pub micros: bool,
    /// `true`: an array with one value per hour (per bucket). `false`: an object whose fields
    /// are such arrays (conversions: `metric`, `post_view`, `post_engagement`, `sale_amount`, …).
    pub per_hour: bool,
    /// The column xads stores it in and reports it as; `None` when not stored.
    pub column: Option<&'static str>,
    /// For an object metric with a column: the fields whose sum is stored.
    pub fields: &'static [&'static str],
}

const fn m(name: &'static str, group: MetricGroup) -> Metric {
    Metric {
        name,
        group,
        micros: false,
        per_hour: true,
        column: None,
        fields: &[],
    }
}

const fn obj(name: &'static str, group: MetricGroup) -> Metric {
    Metric {
        per_hour: false,
        ..m(name, group)
    }
}

const fn stored(mut metric: Metric, column: &'static str) -> Metric {
    metric.column = Some(column);
    metric
}

const fn stored_fields(
    metric: Metric,
    column: &'static str,
    fields: &'static [&'static str],
) -> Metric {
    let mut metric = stored(metric, column);
    metric.fields = fields;
    metric
}

const fn money(mut metric: Metric) -> Metric {
    metric.micros = true;
    metric
}

use MetricGroup::{
    Billing, Engagement, LifeTimeValueMobileConversion as Ltv, MobileConversion as Mobile, Video,
    WebConversion as Web,
};

/// Every stats metric of X's v12 docs (x-ads-api.md §5, "Metric names by group") plus the keys
/// real answers carry beyond the docs (`tweets_send`, `poll_card_vote`, `unfollows`). The stored
/// ones name their column; the order of first appearance is the order of our columns.
pub const METRICS: &[Metric] = &[
    stored(m("impressions", Engagement), "impressions"),
    stored(m("clicks", Engagement), "clicks"),
    stored(m("engagements", Engagement), "engagements"),
    stored(m("retweets", Engagement), "retweets"),
    stored(m("likes", Engagement), "likes"),
    stored(m("replies", Engagement), "replies"),
    stored(m("follows", Engagement), "follows"),
    m("card_engagements", Engagement),
    m("app_clicks", Engagement),
    m("url_clicks", Engagement),
    m("qualified_impressions", Engagement),
    m("carousel_swipes", Engagement),
    m("tweets_send", Engagement),
    m("poll_card_vote", Engagement),
    m("unfollows", Engagement),
    stored(m("billed_engagements", Billing), "billed_engagements"),
    stored(
        money(m("billed_charge_local_micro", Billing)),
        "spend_local_micro",
    ),
    m("video_total_views", Video),
    m("video_views_25", Video),
    m("video_views_50", Video),
    m("video_views_75", Video),
    m("video_views_100", Video),
    m("video_cta_clicks", Video),
    m("video_content_starts", Video),
    m("video_3s100pct_views", Video),
    m("video_6s_views", Video),
    m("video_15s_views", Video),
    // Web purchases are our `conversions` (web only: app installs are `installs`).
    stored_fields(obj("conversion_purchases", Web), "conversions", &["metric"]),
    obj("conversion_sign_ups", Web),
    obj("conversion_site_visits", Web),
    obj("conversion_downloads", Web),
    obj("conversion_custom", Web),
    obj("conversion_add_to_carts", Web),
    obj("conversion_checkouts_initiated", Web),
    obj("conversion_content_views", Web),
    obj("conversion_payment_info_additions", Web),
    obj("conversion_add_to_wishlists", Web),
    obj("conversion_searches", Web),
    obj("conversion_landing_page_views", Web),
    obj("conversion_subscriptions", Web),
    obj("mobile_conversion_spent_credits", Mobile),
    // App installs: post-view plus post-engagement (`assisted` ones are not installs of the ad).
    stored_fields(
        obj("mobile_conversion_installs", Mobile),
        "installs",
        &["post_view", "post_engagement"],
    ),
    obj("mobile_conversion_content_views", Mobile),
    obj("mobile_conversion_add_to_wishlists", Mobile),
    obj("mobile_conversion_checkouts_initiated", Mobile),
    obj("mobile_conversion_reservations", Mobile),
    obj("mobile_conversion_tutorials_completed", Mobile),
    obj("mobile_conversion_achievements_unlocked", Mobile),
    obj("mobile_conversion_searches", Mobile),
    obj("mobile_conversion_add_to_carts", Mobile),
    obj("mobile_conversion_payment_info_additions", Mobile),
    obj("mobile_conversion_re_engages", Mobile),
    obj("mobile_conversion_shares", Mobile),
    obj("mobile_conversion_rates", Mobile),
    obj("mobile_conversion_logins", Mobile),
    obj("mobile_conversion_updates", Mobile),
    obj("mobile_conversion_levels_achieved", Mobile),
    obj("mobile_conversion_invites", Mobile),
    obj("mobile_conversion_key_page_views", Mobile),
    obj("mobile_conversion_downloads", Mobile),
    obj("mobile_conversion_purchases", Mobile),
    obj("mobile_conversion_sign_ups", Mobile),
    obj("mobile_conversion_site_visits", Mobile),
    obj("mobile_conversion_lifetime_value_purchases", Ltv),
    obj("mobile_conversion_lifetime_value_sign_ups", Ltv),
    obj("mobile_conversion_lifetime_value_updates", Ltv),
    obj("mobile_conversion_lifetime_value_tutorials_completed", Ltv),
    obj("mobile_conversion_lifetime_value_reservations", Ltv),
    obj("mobile_conversion_lifetime_value_add_to_carts", Ltv),
    obj("mobile_conversion_lifetime_value_add_to_wishlists", Ltv),
    obj("mobile_conversion_lifetime_value_checkouts_initiated", Ltv),
    obj("mobile_conversion_lifetime_value_levels_achieved", Ltv),
    obj(
        "mobile_conversion_lifetime_value_achievements_unlocked",
        Ltv,
    ),
    obj("mobile_conversion_lifetime_value_shares", Ltv),
    obj("mobile_conversion_lifetime_value_invites", Ltv),
    obj(
        "mobile_conversion_lifetime_value_payment_info_additions",
        Ltv,
    ),
    obj("mobile_conversion_lifetime_value_spent_credits", Ltv),
    obj("mobile_conversion_lifetime_value_rates", Ltv),
];

/// A stored (and reported) column: where one or more [`METRICS`] land.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column / report field name.
    pub name: &'static str,
    /// Money in micro-units (converted to USD by the store).
    pub micros: bool,
    /// The `metric_groups` member that brings its metrics (one per column).
    pub group: MetricGroup,
    /// Null when its group was not asked: MOBILE_CONVERSION is asked only about app campaigns
    /// (X wants it in a call of its own), so elsewhere the column is unknown, not 0.
    pub nullable: bool,
}

/// Whether a group is asked only of some entities, so its columns may be unknown.
const fn asked_only_sometimes(group: MetricGroup) -> bool {
    matches!(
        group,
        MetricGroup::MobileConversion | MetricGroup::LifeTimeValueMobileConversion
    )
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `METRICS[i]`'s column is new (no earlier metric has it). A column's metrics all
/// come from one group (a compile-time error otherwise): whether it was asked is then one fact.
const fn first_of_column(i: usize) -> Option<&'static str> {
    let Some(col) = METRICS[i].column else {
        return None;
    };
    let mut j = 0;
    while j < i {
        if let Some(other) = METRICS[j].column
            && str_eq(other, col)
        {
            assert!(
                METRICS[j].group as u8 == METRICS[i].group as u8,
                "a stats column's metrics come from one metric group"
            );
            return None;
        }
        j += 1;
    }
    Some(col)
}

const fn column_count() -> usize {
    let (mut n, mut i) = (0, 0);
    while i < METRICS.len() {
        if first_of_column(i).is_some() {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn columns() -> [Column; column_count()] {
    let mut out = [Column {
        name: "",
        micros: false,
        group: MetricGroup::Engagement,
        nullable: false,
    }; column_count()];
    let mut n = 0;
    // Counts first, then money, each in table order: the order of our SQL and CSV columns.
    let mut pass = 0;
    while pass < 2 {
        let mut i = 0;
        while i < METRICS.len() {
            if let Some(name) = first_of_column(i)
                && METRICS[i].micros == (pass == 1)
            {
                out[n] = Column {
                    name,
                    micros: METRICS[i].micros,
                    group: METRICS[i].group,
                    nullable: asked_only_sometimes(METRICS[i].group),
                };
                n += 1;
            }
            i += 1;
        }
        pass += 1;
    }
    out
}

/// The stored columns, each once: counts first, then money, each in [`METRICS`] order.
pub const COLUMNS: [Column; column_count()] = columns();

/// The index of a column in [`COLUMNS`]; a compile-time error (in a `const`) when absent.
pub const fn column_index(name: &str) -> usize {
    let mut i = 0;
    while i < COLUMNS.len() {
        if str_eq(COLUMNS[i].name, name) {
            return i;
        }
        i += 1;
    }
    panic!("no such stats column")
}

/// The metric of a wire name.
pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

/// The metrics a group brings, in table order.
pub fn metrics_of(group: MetricGroup) -> impl Iterator<Item = &'static Metric> {
    METRICS.iter().filter(move |m| m.group == group)
}

impl Metric {
    /// This metric's stored series in a response: the array itself, or for an object metric the
    /// element-wise sum of its stored `fields` (a null element counts 0). `None` when X sent no
    /// data (absent or `null`).
    pub fn series(&self, metrics: &Metrics) -> Option<Vec<Option<i64>>> {
        if self.per_hour {
            return metrics.count_series(self.name);
        }
        let parts: Vec<Option<Vec<Option<i64>>>> = self
            .fields
            .iter()
            .map(|f| metrics.object_series(self.name, f))
            .collect();
        if parts.iter().all(Option::is_none) {
            return None;
        }
        let n = parts.iter().flatten().map(Vec::len).max().unwrap_or(0);
        Some(
            (0..n)
                .map(|i| {
                    Some(
                        parts
                            .iter()
                            .flatten()
                            .map(|p| p.get(i).copied().flatten().unwrap_or(0))
                            .sum(),
                    )
                })
                .collect(),
        )
    }
}

/// Every stored column's series in one response's metrics, in [`COLUMNS`] order: the sum of the
/// series of every metric stored in that column that X sent (`None` when none was sent).
pub fn column_series(metrics: &Metrics) -> [Option<Vec<Option<i64>>>; COLUMNS.len()] {
    let mut out: [Option<Vec<Option<i64>>>; COLUMNS.len()] = std::array::from_fn(|_| None);
    for metric in METRICS {
        let Some(col) = metric.column else { continue };
        let Some(series) = metric.series(metrics) else {
            continue;
        };
        let slot = &mut out[column_index(col)];
        *slot = Some(match slot.take() {
            None => series,
            Some(prev) => {
                let n = prev.len().max(series.len());
                (0..n)
                    .map(|i| {
                        let (a, b) = (
                            prev.get(i).copied().flatten(),
                            series.get(i).copied().flatten(),
                        );
                        if a.is_none() && b.is_none() {
                            None
                        } else {
                            Some(a.unwrap_or(0) + b.unwrap_or(0))
                        }
                    })
                    .collect()
            }
        });
    }
    out
}

/// Which stored columns X answered at all in one response's metrics, in [`COLUMNS`] order: X
/// sends every metric of every group asked (`null` when it has no data), so a column whose
/// metrics are absent belongs to a group that was not asked, and is unknown rather than 0.
pub fn columns_sent(metrics: &Metrics) -> [bool; COLUMNS.len()] {
    let mut out = [false; COLUMNS.len()];
    for metric in METRICS {
        if let Some(col) = metric.column
            && metrics.has(metric.name)
        {
            out[column_index(col)] = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn wire_strings_round_trip_and_unknowns_are_refused() {
        fn check<T>(all: &[T], wire: &[&str])
        where
            T: Copy + PartialEq + fmt::Debug + std::str::FromStr + Serialize,
            T: for<'de> Deserialize<'de> + AsRef<str>,
        {
            assert_eq!(all.len(), wire.len());
            for (v, w) in all.iter().zip(wire) {
                assert_eq!(v.as_ref(), *w);
                assert_eq!(w.parse::<T>().ok(), Some(*v));
                assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{w}\""));
                assert_eq!(serde_json::from_str::<T>(&format!("\"{w}\"")).unwrap(), *v);
                assert!(
                    w.to_ascii_lowercase().parse::<T>().is_err(),
                    "case-sensitive"
                );
            }
            let unique: HashSet<&&str> = wire.iter().collect();
            assert_eq!(unique.len(), wire.len(), "no duplicates");
            assert!("NOPE".parse::<T>().is_err());
            assert!(serde_json::from_str::<T>("\"NOPE\"").is_err());
        }
        check(Objective::ALL, Objective::WIRE);
        check(ProductType::ALL, ProductType::WIRE);
        check(LineItemPlacement::ALL, LineItemPlacement::WIRE);
        check(BidStrategy::ALL, BidStrategy::WIRE);
        check(PayBy::ALL, PayBy::WIRE);
        check(Goal::ALL, Goal::WIRE);
        check(StatsEntityType::ALL, StatsEntityType::WIRE);
        check(Granularity::ALL, Granularity::WIRE);
        check(Placement::ALL, Placement::WIRE);
        check(MetricGroup::ALL, MetricGroup::WIRE);
        check(SegmentationType::ALL, SegmentationType::WIRE);
        let err = "CLICKS".parse::<Objective>().unwrap_err();
        assert_eq!(err.vocabulary, "objective");
        assert!(
            err.to_string()
                .starts_with("\"CLICKS\" is not one of APP_ENGAGEMENTS, ")
        );
    }

    #[test]
    fn the_metric_table_is_consistent() {
        let names: HashSet<&str> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), METRICS.len(), "each metric once");
        for m in METRICS {
            assert_eq!(
                m.fields.is_empty(),
                m.per_hour || m.column.is_none(),
                "{}: an object metric with a column names the fields it stores",
                m.name
            );
        }
        let cols: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(
            cols,
            [
                "impressions",
                "clicks",
                "engagements",
                "retweets",
                "likes",
                "replies",
                "follows",
                "billed_engagements",
                "conversions",
                "installs",
                "spend_local_micro"
            ]
        );
        assert_eq!(COLUMNS.iter().filter(|c| c.micros).count(), 1);
        // Only the columns of groups asked about some entities alone may be unknown.
        let nullable: Vec<&str> = COLUMNS
            .iter()
            .filter(|c| c.nullable)
            .map(|c| c.name)
            .collect();
        assert_eq!(nullable, ["installs"]);
        assert_eq!(COLUMNS[column_index("installs")].group, Mobile);
        assert_eq!(COLUMNS[column_index("conversions")].group, Web);
        assert!(Objective::AppInstalls.is_app() && Objective::AppEngagements.is_app());
        assert!(!Objective::WebsiteClicks.is_app());
        assert_eq!(column_index("spend_local_micro"), COLUMNS.len() - 1);
        // Every group X documents has its metrics here.
        for g in MetricGroup::ALL {
            assert!(metrics_of(*g).count() > 0, "{g}");
        }
        assert_eq!(metric("url_clicks").map(|m| m.group), Some(Engagement));
        assert_eq!(metric("nope"), None);
    }

    #[test]
    fn column_series_sums_what_each_column_is_made_of() {
        let m: Metrics = serde_json::from_str(
            r#"{"impressions":[1,null,3],"likes":null,"billed_charge_local_micro":[0,5000000,0],
                "conversion_purchases":{"metric":[2,null,1],"sale_amount":[100,0,1]},
                "url_clicks":[9,9,9]}"#,
        )
        .unwrap();
        let s = column_series(&m);
        assert_eq!(
            s[column_index("impressions")],
            Some(vec![Some(1), None, Some(3)])
        );
        assert_eq!(s[column_index("likes")], None);
        assert_eq!(s[column_index("clicks")], None, "url_clicks is not clicks");
        assert_eq!(
            s[column_index("conversions")],
            Some(vec![Some(2), Some(0), Some(1)])
        );
        assert_eq!(
            s[column_index("spend_local_micro")],
            Some(vec![Some(0), Some(5_000_000), Some(0)])
        );
        let mobile: Metrics = serde_json::from_str(
            r#"{"mobile_conversion_installs":{"post_view":[1,null],"post_engagement":[2,3],"assisted":[7,7]}}"#,
        )
        .unwrap();
        // Installs are post-view plus post-engagement, never web conversions.
        assert_eq!(
            column_series(&mobile)[column_index("installs")],
            Some(vec![Some(3), Some(3)])
        );
        assert_eq!(column_series(&mobile)[column_index("conversions")], None);
    }

    #[test]
    fn columns_sent_tells_an_unasked_group_from_one_without_data() {
        let web: Metrics =
            serde_json::from_str(r#"{"impressions":[1],"conversion_purchases":null}"#).unwrap();
        let sent = columns_sent(&web);
        assert!(sent[column_index("impressions")] && sent[column_index("conversions")]);
        assert!(
            !sent[column_index("installs")],
            "MOBILE_CONVERSION was not asked"
        );
        let mobile: Metrics =
            serde_json::from_str(r#"{"mobile_conversion_installs":null}"#).unwrap();
        let sent = columns_sent(&mobile);
        assert!(
            sent[column_index("installs")],
            "asked, no data: known to be 0"
        );
        assert!(!sent[column_index("impressions")]);
    }
}
