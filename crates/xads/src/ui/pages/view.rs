//! What the pages show of the API's answers, as plain typed values: the one place that reads
//! the JSON. Rendering functions take these, so feeding them from the domain's own types later
//! changes the constructors here, not the templates.

use serde_json::Value;

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn flag(v: &Value) -> bool {
    v.as_bool() == Some(true)
}

/// An entity's state as the status badge shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    Active,
    Paused,
    Draft,
    Deleted,
}

impl Status {
    /// The status filter's value of this state.
    pub fn key(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Draft => "draft",
            Status::Deleted => "deleted",
        }
    }

    /// The status filter's options for entities.
    pub const OPTIONS: &'static [(&'static str, &'static str)] = &[
        ("active", "Active"),
        ("paused", "Paused"),
        ("draft", "Draft"),
    ];

    fn from_api(e: &Value) -> Status {
        if flag(&e["deleted"]) {
            Status::Deleted
        } else if flag(&e["draft"]) {
            Status::Draft
        } else if flag(&e["paused"]) {
            Status::Paused
        } else {
            Status::Active
        }
    }
}

/// A campaign.
#[derive(Clone, Debug)]
pub(super) struct Campaign {
    pub id: String,
    /// The name, or the id when it has none.
    pub name: String,
    pub status: Status,
    pub paused: bool,
    pub dry_run: bool,
    pub currency: Option<String>,
    pub daily_budget_micros: Option<i64>,
    pub total_budget_micros: Option<i64>,
}

impl Campaign {
    pub fn from_api(c: &Value) -> Campaign {
        let id = text(&c["id"]).unwrap_or_default();
        Campaign {
            name: text(&c["name"]).unwrap_or_else(|| id.clone()),
            status: Status::from_api(c),
            paused: flag(&c["paused"]),
            dry_run: flag(&c["dry_run"]),
            currency: text(&c["currency"]),
            daily_budget_micros: c["daily_budget_amount_local_micro"].as_i64(),
            total_budget_micros: c["total_budget_amount_local_micro"].as_i64(),
            id,
        }
    }
}

/// A line item.
#[derive(Clone, Debug)]
pub(super) struct LineItem {
    pub id: String,
    /// The name, or the id when it has none.
    pub name: String,
    pub status: Status,
    pub paused: bool,
    pub dry_run: bool,
    pub objective: Option<String>,
    pub placements: Vec<String>,
    /// `None`: X bids automatically.
    pub bid_micros: Option<i64>,
    pub currency: Option<String>,
    pub daily_budget_micros: Option<i64>,
    pub total_budget_micros: Option<i64>,
    /// The flight's end (RFC 3339), when set.
    pub end_time: Option<String>,
}

impl LineItem {
    pub fn from_api(l: &Value) -> LineItem {
        let id = text(&l["id"]).unwrap_or_default();
        LineItem {
            name: text(&l["name"]).unwrap_or_else(|| id.clone()),
            status: Status::from_api(l),
            paused: flag(&l["paused"]),
            dry_run: flag(&l["dry_run"]),
            objective: text(&l["objective"]),
            placements: l["placements"]
                .as_array()
                .map(|p| p.iter().filter_map(text).collect())
                .unwrap_or_default(),
            bid_micros: l["bid_amount_local_micro"].as_i64(),
            currency: text(&l["currency"]),
            daily_budget_micros: l["daily_budget_amount_local_micro"].as_i64(),
            total_budget_micros: l["total_budget_amount_local_micro"].as_i64(),
            end_time: text(&l["end_time"]),
            id,
        }
    }
}

/// A promoted tweet.
#[derive(Clone, Debug)]
pub(super) struct PromotedTweet {
    pub id: String,
    pub line_item_id: Option<String>,
    pub tweet_id: Option<String>,
    pub status: Status,
}

impl PromotedTweet {
    pub fn from_api(p: &Value) -> PromotedTweet {
        PromotedTweet {
            id: text(&p["id"]).unwrap_or_default(),
            line_item_id: text(&p["line_item_id"]),
            tweet_id: text(&p["tweet_id"]),
            status: Status::from_api(p),
        }
    }
}

/// An item of the media library.
#[derive(Clone, Debug)]
pub(super) struct Media {
    /// The name, else the file name.
    pub name: Option<String>,
    pub media_key: Option<String>,
    /// The category, else the media type.
    pub kind: Option<String>,
    pub status: Option<String>,
    pub created_at: Option<String>,
    /// `IMAGE`, `GIF` or `VIDEO`.
    pub media_type: Option<String>,
    /// Milliseconds (videos).
    pub duration_ms: Option<i64>,
    pub aspect_ratio: Option<String>,
    pub dry_run: bool,
    /// An image of it at X: the image itself, or a video's (GIF's) poster.
    pub preview_url: Option<String>,
}

impl Media {
    pub fn from_api(m: &Value) -> Media {
        let either = |a: &str, b: &str| {
            if m[a].is_null() {
                text(&m[b])
            } else {
                text(&m[a])
            }
        };
        Media {
            name: either("name", "file_name"),
            media_key: text(&m["media_key"]),
            kind: either("media_category", "media_type"),
            status: text(&m["media_status"]),
            created_at: text(&m["created_at"]),
            media_type: text(&m["media_type"]),
            duration_ms: m["duration"].as_i64(),
            aspect_ratio: text(&m["aspect_ratio"]),
            dry_run: flag(&m["dry_run"]),
            preview_url: text(&m["poster_media_url"]).or_else(|| {
                (m["media_type"].as_str() == Some("IMAGE"))
                    .then(|| text(&m["media_url"]))
                    .flatten()
            }),
        }
    }
}

/// A JSON value as text: strings as they are, other values as JSON, `None` for null.
fn shown(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// An experiment and its variants' live state.
#[derive(Clone, Debug)]
pub(super) struct Experiment {
    pub id: String,
    /// The name, or the id when it has none.
    pub name: String,
    pub status: Option<String>,
    pub primary_metric: Option<String>,
    pub schedule_mode: Option<String>,
    pub slot_hours: Option<i64>,
    pub next_switch: Option<String>,
    pub problem: Option<String>,
    pub conclusion: Option<String>,
    pub note: Option<String>,
    pub variants: Vec<Variant>,
    pub campaign_id: Option<String>,
    pub winner: Option<String>,
    /// RFC 3339.
    pub created_at: Option<String>,
    pub started_at: Option<String>,
}

impl Experiment {
    pub fn from_api(x: &Value) -> Experiment {
        let id = text(&x["id"]).unwrap_or_default();
        Experiment {
            name: text(&x["name"]).unwrap_or_else(|| id.clone()),
            status: shown(&x["status"]),
            primary_metric: shown(&x["primary_metric"]),
            schedule_mode: shown(&x["schedule"]["mode"]),
            slot_hours: x["schedule"]["slot_hours"].as_i64(),
            next_switch: text(&x["next_switch"]),
            problem: text(&x["problem"]),
            conclusion: text(&x["conclusion"]),
            note: text(&x["note"]),
            variants: x["variants"]
                .as_array()
                .map(|v| v.iter().map(Variant::from_api).collect())
                .unwrap_or_default(),
            campaign_id: text(&x["campaign_id"]),
            winner: text(&x["winner"]),
            created_at: text(&x["created_at"]),
            started_at: text(&x["started_at"]),
            id,
        }
    }

    /// Whether the named variant's line item is paused now, when known.
    pub fn paused(&self, variant: Option<&str>) -> Option<bool> {
        self.variants
            .iter()
            .find(|v| v.name.as_deref() == variant)
            .and_then(|v| v.paused)
    }
}

/// A point estimate with its interval.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Estimate {
    pub value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl Estimate {
    fn from_api(e: &Value) -> Estimate {
        Estimate {
            value: e["value"].as_f64(),
            low: e["low"].as_f64(),
            high: e["high"].as_f64(),
        }
    }
}

/// A variant: its live state, and its results when the results carry them.
#[derive(Clone, Debug)]
pub(super) struct Variant {
    pub name: Option<String>,
    pub control: bool,
    pub line_item_id: Option<String>,
    pub paused: Option<bool>,
    /// What changed outside xads (X Ads Manager), when the runner saw it.
    pub drift: Option<String>,
    pub impressions: u64,
    pub clicks: u64,
    pub ctr: Estimate,
    pub spend_usd: Option<f64>,
    pub conversions: Option<String>,
    pub cpc: Estimate,
    pub cpa: Estimate,
    pub p_best: Option<f64>,
}

impl Variant {
    pub fn from_api(v: &Value) -> Variant {
        Variant {
            name: shown(&v["name"]),
            control: flag(&v["control"]),
            line_item_id: shown(&v["line_item_id"]),
            paused: v["paused"].as_bool(),
            drift: text(&v["drift"]),
            impressions: v["impressions"].as_u64().unwrap_or(0),
            clicks: v["clicks"].as_u64().unwrap_or(0),
            ctr: Estimate::from_api(&v["ctr"]),
            spend_usd: v["spend_usd"].as_str().and_then(|x| x.parse().ok()),
            conversions: shown(&v["conversions"]),
            cpc: Estimate::from_api(&v["cpc"]),
            cpa: Estimate::from_api(&v["cpa"]),
            p_best: v["p_best"].as_f64(),
        }
    }
}

/// An experiment's results.
#[derive(Clone, Debug)]
pub(super) struct Results {
    pub verdict: Option<String>,
    pub winner: Option<String>,
    pub method: Option<String>,
    /// `None` when the answer has no variants.
    pub variants: Option<Vec<Variant>>,
}

impl Results {
    pub fn from_api(r: &Value) -> Results {
        Results {
            verdict: shown(&r["verdict"]),
            winner: shown(&r["winner"]),
            method: text(&r["method"]),
            variants: r["variants"]
                .as_array()
                .map(|v| v.iter().map(Variant::from_api).collect()),
        }
    }
}

/// A number that may come as a JSON number or a decimal string; 0 when absent.
fn number(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0.0)
}

/// A row of `GET …/stats` (a day or the whole range of one campaign).
#[derive(Clone, Debug)]
pub(super) struct StatsRow {
    pub entity_id: String,
    /// The account's local day of `start`.
    pub date: String,
    /// The segment a breakdown's row is of (`iOS`, `Age 25 to 34`, …).
    pub segment_name: Option<String>,
    pub impressions: f64,
    pub clicks: f64,
    pub engagements: f64,
    pub conversions: f64,
    /// App installs; `None` where they were not asked (not an app campaign).
    pub installs: Option<f64>,
    /// A total row's USD per install (exact decimal from the API), when defined.
    pub cpi_usd: Option<f64>,
    pub spend_local_micros: Option<i64>,
    pub currency: Option<String>,
    /// USD as the API's decimal string; `None` until the date's FX rate is known.
    pub spend_usd: Option<String>,
    /// The same as a number (0 when unknown), and whether it is known at all.
    pub spend_usd_value: f64,
    pub spend_usd_known: bool,
    /// USD converted with a rate dated more than 7 days before the data (an estimate).
    pub fx_stale: bool,
}

impl StatsRow {
    pub fn from_api(r: &Value) -> StatsRow {
        StatsRow {
            entity_id: text(&r["entity_id"]).unwrap_or_default(),
            date: text(&r["date"]).unwrap_or_default(),
            segment_name: text(&r["segment_name"]),
            impressions: number(&r["impressions"]),
            clicks: number(&r["clicks"]),
            engagements: number(&r["engagements"]),
            conversions: number(&r["conversions"]),
            installs: r["installs"].as_f64(),
            cpi_usd: r["cpi_usd"].as_str().and_then(|s| s.parse().ok()),
            spend_local_micros: r["spend_local_micro"].as_i64(),
            currency: text(&r["currency"]),
            spend_usd: text(&r["spend_usd"]),
            spend_usd_value: number(&r["spend_usd"]),
            spend_usd_known: !r["spend_usd"].is_null(),
            fx_stale: r["fx_stale"].as_bool().unwrap_or(false),
        }
    }
}

/// The X Ads tile of the Integrations page.
#[derive(Clone, Debug)]
pub(super) struct Tile {
    /// `connected`, `needs_reconnect`, `error` or `disconnected`.
    pub status: String,
    pub live: bool,
    pub problem: Option<String>,
    pub missing_scopes: Vec<String>,
    pub accounts: Vec<TileAccount>,
    pub last_sync_success: Option<String>,
    pub sync_lag_seconds: Option<i64>,
    pub last_sync_error: Option<String>,
    pub connected_at: Option<String>,
    /// The connect methods configured (`oauth2`, `oauth1`).
    pub methods: Vec<String>,
}

/// An ad account as the tile lists it.
#[derive(Clone, Debug)]
pub(super) struct TileAccount {
    pub id: String,
    pub name: String,
    pub currency: Option<String>,
    pub timezone: Option<String>,
}

impl Tile {
    pub fn from_api(t: &Value) -> Tile {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| a.iter().filter_map(text).collect())
                .unwrap_or_default()
        };
        Tile {
            status: text(&t["status"]).unwrap_or_else(|| "disconnected".into()),
            live: t["mode"].as_str() == Some("live"),
            problem: text(&t["problem"]),
            missing_scopes: strings(&t["missing_scopes"]),
            accounts: t["accounts"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|a| TileAccount {
                            id: text(&a["id"]).unwrap_or_default(),
                            name: text(&a["name"]).unwrap_or_default(),
                            currency: text(&a["currency"]),
                            timezone: text(&a["timezone"]),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            last_sync_success: text(&t["sync"]["last_success_at"]),
            sync_lag_seconds: t["sync"]["lag_seconds"].as_i64(),
            last_sync_error: text(&t["sync"]["last_error"]),
            connected_at: text(&t["connected_at"]),
            methods: strings(&t["methods"]),
        }
    }
}
