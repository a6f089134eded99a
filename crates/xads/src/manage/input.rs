//! Dashboard input for campaign management, validated before anything is stored or sent
//! (PRODUCT.md §5, issue "campaign management" item 2). Every error names its field.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use xads_client::ids::Micros;
use xads_client::vocab::{
    BidStrategy, Goal, LineItemPlacement, Objective, PayBy, ProductType, UnknownValue,
};

/// A validation failure: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The offending field (`name`, `placements[1]`, `body`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// X's line-item objectives (v12), from the client's vocabulary.
pub const OBJECTIVES: &[&str] = Objective::WIRE;
/// X's product types.
pub const PRODUCT_TYPES: &[&str] = ProductType::WIRE;
/// X's line-item placements.
pub const PLACEMENTS: &[&str] = LineItemPlacement::WIRE;
/// X's bid strategies.
pub const BID_STRATEGIES: &[&str] = BidStrategy::WIRE;
/// Most tweets X attaches in one promoted-tweets call.
pub const MAX_TWEET_IDS: usize = 50;

/// Parses a JSON body into `T`, turning serde's complaint into a field-naming error.
pub fn parse<T: DeserializeOwned>(body: &Value) -> Result<T, Invalid> {
    if !body.is_object() {
        return Err(invalid("body", "expected a JSON object"));
    }
    serde_json::from_value(body.clone()).map_err(|e| {
        let msg = e.to_string();
        // serde names the field in "unknown field `x`" / "missing field `x`" / "invalid type … for key `x`".
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.contains("field"))
            .unwrap_or("body");
        invalid(field, msg.clone())
    })
}

/// A name: 1–255 characters after trimming.
pub fn name(field: &str, value: &str) -> Result<String, Invalid> {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 || n > 255 {
        return Err(invalid(field, "must be 1 to 255 characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(v.to_owned())
}

/// An X entity id: base-36 (`8wku2`), or one of our dry-run ids (`dry_…`).
pub fn entity_id(field: &str, value: &str) -> Result<String, Invalid> {
    let ok_x = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    let ok_dry = value.strip_prefix("dry_").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 40
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if ok_x || ok_dry {
        Ok(value.to_owned())
    } else {
        Err(invalid(field, format!("{value:?} is not a valid X id")))
    }
}

/// A positive amount in micros, as money from here on.
pub fn micros(field: &str, value: i64) -> Result<Micros, Invalid> {
    Micros::positive(value).ok_or_else(|| invalid(field, "must be a positive amount in micros"))
}

fn opt_micros(field: &str, value: Option<i64>) -> Result<Option<Micros>, Invalid> {
    value.map(|v| micros(field, v)).transpose()
}

/// Daily ≤ total when both are set.
pub fn budgets(daily: Option<i64>, total: Option<i64>) -> Result<(), Invalid> {
    if let Some(d) = daily {
        micros("daily_budget_amount_local_micro", d)?;
    }
    if let Some(t) = total {
        micros("total_budget_amount_local_micro", t)?;
    }
    if let (Some(d), Some(t)) = (daily, total)
        && d > t
    {
        return Err(invalid(
            "daily_budget_amount_local_micro",
            "must not exceed total_budget_amount_local_micro",
        ));
    }
    Ok(())
}

/// One of a known set of values.
pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<String, Invalid> {
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            field,
            format!("{value:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

/// A member of one of X's vocabularies, named by its field when it is not one.
pub fn term<T: std::str::FromStr<Err = UnknownValue>>(
    field: &str,
    value: &str,
) -> Result<T, Invalid> {
    value
        .parse()
        .map_err(|e: UnknownValue| invalid(field, e.to_string()))
}

/// POST …/campaigns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    /// Required.
    pub name: String,
    /// Required.
    pub funding_instrument_id: String,
    /// Micros.
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Micros.
    pub total_budget_amount_local_micro: Option<i64>,
    /// Create paused (default false).
    #[serde(default)]
    pub paused: bool,
    /// ≤ 50 characters.
    pub purchase_order_number: Option<String>,
}

impl CampaignInput {
    /// Checks every rule.
    pub fn validate(mut self) -> Result<Self, Invalid> {
        self.name = name("name", &self.name)?;
        entity_id("funding_instrument_id", &self.funding_instrument_id)?;
        budgets(
            self.daily_budget_amount_local_micro,
            self.total_budget_amount_local_micro,
        )?;
        if let Some(po) = &self.purchase_order_number
            && po.chars().count() > 50
        {
            return Err(invalid(
                "purchase_order_number",
                "must be at most 50 characters",
            ));
        }
        Ok(self)
    }
}

/// PATCH …/campaigns/{id}.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignPatch {
    /// New name.
    pub name: Option<String>,
    /// Micros.
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Micros.
    pub total_budget_amount_local_micro: Option<i64>,
    /// Pause or resume.
    pub paused: Option<bool>,
    /// ≤ 50 characters.
    pub purchase_order_number: Option<String>,
}

impl CampaignPatch {
    /// Checks every rule (against the current budgets for daily ≤ total).
    pub fn validate(mut self, current: &Value) -> Result<Self, Invalid> {
        if let Some(n) = &self.name {
            self.name = Some(name("name", n)?);
        }
        let daily = self
            .daily_budget_amount_local_micro
            .or_else(|| current["daily_budget_amount_local_micro"].as_i64());
        let total = self
            .total_budget_amount_local_micro
            .or_else(|| current["total_budget_amount_local_micro"].as_i64());
        if let Some(d) = self.daily_budget_amount_local_micro {
            micros("daily_budget_amount_local_micro", d)?;
        }
        if let Some(t) = self.total_budget_amount_local_micro {
            micros("total_budget_amount_local_micro", t)?;
        }
        budgets(daily, total)?;
        if self.name.is_none()
            && self.daily_budget_amount_local_micro.is_none()
            && self.total_budget_amount_local_micro.is_none()
            && self.paused.is_none()
            && self.purchase_order_number.is_none()
        {
            return Err(invalid("body", "nothing to change"));
        }
        Ok(self)
    }
}

/// POST …/line_items.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItemInput {
    /// Required: the parent campaign.
    pub campaign_id: String,
    /// 1–255 characters.
    pub name: Option<String>,
    /// Required.
    pub objective: String,
    /// Required.
    pub product_type: String,
    /// Required, at least one.
    pub placements: Vec<String>,
    /// AUTO, MAX, TARGET.
    pub bid_strategy: Option<String>,
    /// Micros; required for MAX/TARGET.
    pub bid_amount_local_micro: Option<i64>,
    /// Optimisation goal.
    pub goal: Option<String>,
    /// What is paid for.
    pub pay_by: Option<String>,
    /// Flight start.
    pub start_time: Option<DateTime<Utc>>,
    /// Flight end.
    pub end_time: Option<DateTime<Utc>>,
    /// Micros.
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Micros.
    pub total_budget_amount_local_micro: Option<i64>,
    /// Create paused (default false).
    #[serde(default)]
    pub paused: bool,
}

/// A validated line item: X's vocabularies parsed, every rule checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLineItem {
    /// The parent campaign.
    pub campaign_id: String,
    /// 1–255 characters.
    pub name: Option<String>,
    /// Objective.
    pub objective: Objective,
    /// Product type.
    pub product_type: ProductType,
    /// At least one, each once.
    pub placements: Vec<LineItemPlacement>,
    /// Bid strategy.
    pub bid_strategy: Option<BidStrategy>,
    /// Present for MAX/TARGET.
    pub bid_amount_local_micro: Option<Micros>,
    /// Optimisation goal.
    pub goal: Option<Goal>,
    /// What is paid for.
    pub pay_by: Option<PayBy>,
    /// Flight start.
    pub start_time: Option<DateTime<Utc>>,
    /// Flight end (after the start).
    pub end_time: Option<DateTime<Utc>>,
    /// Daily budget.
    pub daily_budget_amount_local_micro: Option<Micros>,
    /// Total budget (≥ daily).
    pub total_budget_amount_local_micro: Option<Micros>,
    /// Create paused.
    pub paused: bool,
}

impl LineItemInput {
    /// Checks every rule and parses X's vocabularies.
    pub fn validate(self) -> Result<NewLineItem, Invalid> {
        entity_id("campaign_id", &self.campaign_id)?;
        let name = match &self.name {
            Some(n) => Some(name("name", n)?),
            None => None,
        };
        let objective = term("objective", &self.objective)?;
        let product_type = term("product_type", &self.product_type)?;
        let placements = placements(&self.placements)?;
        let bid_strategy = match &self.bid_strategy {
            Some(b) => {
                let b: BidStrategy = term("bid_strategy", b)?;
                if b != BidStrategy::Auto && self.bid_amount_local_micro.is_none() {
                    return Err(invalid(
                        "bid_amount_local_micro",
                        "is required with bid_strategy MAX or TARGET",
                    ));
                }
                Some(b)
            }
            None => None,
        };
        let bid_amount_local_micro =
            opt_micros("bid_amount_local_micro", self.bid_amount_local_micro)?;
        let goal = match &self.goal {
            Some(g) => Some(term("goal", g)?),
            None => None,
        };
        let pay_by = match &self.pay_by {
            Some(p) => Some(term("pay_by", p)?),
            None => None,
        };
        if let (Some(s), Some(e)) = (self.start_time, self.end_time)
            && e <= s
        {
            return Err(invalid("end_time", "must be after start_time"));
        }
        budgets(
            self.daily_budget_amount_local_micro,
            self.total_budget_amount_local_micro,
        )?;
        Ok(NewLineItem {
            campaign_id: self.campaign_id,
            name,
            objective,
            product_type,
            placements,
            bid_strategy,
            bid_amount_local_micro,
            goal,
            pay_by,
            start_time: self.start_time,
            end_time: self.end_time,
            daily_budget_amount_local_micro: self
                .daily_budget_amount_local_micro
                .and_then(Micros::positive),
            total_budget_amount_local_micro: self
                .total_budget_amount_local_micro
                .and_then(Micros::positive),
            paused: self.paused,
        })
    }
}

fn placements(values: &[String]) -> Result<Vec<LineItemPlacement>, Invalid> {
    if values.is_empty() {
        return Err(invalid("placements", "at least one placement is required"));
    }
    let mut out = Vec::with_capacity(values.len());
    for (i, p) in values.iter().enumerate() {
        let p = term(&format!("placements[{i}]"), p)?;
        if out.contains(&p) {
            return Err(invalid(&format!("placements[{i}]"), "is listed twice"));
        }
        out.push(p);
    }
    Ok(out)
}

/// PATCH …/line_items/{id}.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItemPatch {
    /// New name.
    pub name: Option<String>,
    /// New bid (micros).
    pub bid_amount_local_micro: Option<i64>,
    /// Micros.
    pub daily_budget_amount_local_micro: Option<i64>,
    /// Micros.
    pub total_budget_amount_local_micro: Option<i64>,
    /// New placements.
    pub placements: Option<Vec<String>>,
    /// New flight end.
    pub end_time: Option<DateTime<Utc>>,
    /// Pause or resume.
    pub paused: Option<bool>,
}

/// A validated line-item change: only the set fields change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineItemChange {
    /// New name.
    pub name: Option<String>,
    /// New bid.
    pub bid_amount_local_micro: Option<Micros>,
    /// New daily budget.
    pub daily_budget_amount_local_micro: Option<Micros>,
    /// New total budget.
    pub total_budget_amount_local_micro: Option<Micros>,
    /// New placements.
    pub placements: Option<Vec<LineItemPlacement>>,
    /// New flight end.
    pub end_time: Option<DateTime<Utc>>,
    /// Pause or resume.
    pub paused: Option<bool>,
}

impl LineItemPatch {
    /// Checks every rule (against the current budgets for daily ≤ total).
    pub fn validate(self, current: &Value) -> Result<LineItemChange, Invalid> {
        let name = match &self.name {
            Some(n) => Some(name("name", n)?),
            None => None,
        };
        let bid_amount_local_micro =
            opt_micros("bid_amount_local_micro", self.bid_amount_local_micro)?;
        let placements = match &self.placements {
            Some(p) => Some(placements(p)?),
            None => None,
        };
        let daily_budget_amount_local_micro = opt_micros(
            "daily_budget_amount_local_micro",
            self.daily_budget_amount_local_micro,
        )?;
        let total_budget_amount_local_micro = opt_micros(
            "total_budget_amount_local_micro",
            self.total_budget_amount_local_micro,
        )?;
        budgets(
            self.daily_budget_amount_local_micro
                .or_else(|| current["daily_budget_amount_local_micro"].as_i64()),
            self.total_budget_amount_local_micro
                .or_else(|| current["total_budget_amount_local_micro"].as_i64()),
        )?;
        if name.is_none()
            && self.bid_amount_local_micro.is_none()
            && self.daily_budget_amount_local_micro.is_none()
            && self.total_budget_amount_local_micro.is_none()
            && placements.is_none()
            && self.end_time.is_none()
            && self.paused.is_none()
        {
            return Err(invalid("body", "nothing to change"));
        }
        Ok(LineItemChange {
            name,
            bid_amount_local_micro,
            daily_budget_amount_local_micro,
            total_budget_amount_local_micro,
            placements,
            end_time: self.end_time,
            paused: self.paused,
        })
    }
}

/// POST …/promoted_tweets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotedTweetsInput {
    /// The line item to promote under.
    pub line_item_id: String,
    /// 1–50 tweet ids (decimal strings).
    pub tweet_ids: Vec<String>,
}

impl PromotedTweetsInput {
    /// Checks every rule.
    pub fn validate(self) -> Result<Self, Invalid> {
        entity_id("line_item_id", &self.line_item_id)?;
        if self.tweet_ids.is_empty() || self.tweet_ids.len() > MAX_TWEET_IDS {
            return Err(invalid(
                "tweet_ids",
                format!("must hold 1 to {MAX_TWEET_IDS} tweet ids"),
            ));
        }
        for (i, t) in self.tweet_ids.iter().enumerate() {
            if t.is_empty() || t.len() > 20 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    &format!("tweet_ids[{i}]"),
                    format!("{t:?} is not a tweet id (decimal digits)"),
                ));
            }
            if self.tweet_ids[..i].contains(t) {
                return Err(invalid(&format!("tweet_ids[{i}]"), "is listed twice"));
            }
        }
        Ok(self)
    }
}

/// PATCH …/promoted_tweets/{id}.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotedTweetPatch {
    /// Pause or resume.
    pub paused: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn campaign(v: Value) -> Result<CampaignInput, Invalid> {
        parse::<CampaignInput>(&v)?.validate()
    }

    #[test]
    fn campaign_rules_name_their_field() {
        let ok = json!({"name": " Spring ", "funding_instrument_id": "lygyi", "daily_budget_amount_local_micro": 5, "total_budget_amount_local_micro": 10});
        assert_eq!(campaign(ok).unwrap().name, "Spring");
        let cases = [
            (json!({"funding_instrument_id": "lygyi"}), "name"),
            (
                json!({"name": "", "funding_instrument_id": "lygyi"}),
                "name",
            ),
            (
                json!({"name": "x".repeat(256), "funding_instrument_id": "lygyi"}),
                "name",
            ),
            (
                json!({"name": "a", "funding_instrument_id": "LY GYI"}),
                "funding_instrument_id",
            ),
            (
                json!({"name": "a", "funding_instrument_id": "lygyi", "daily_budget_amount_local_micro": -1}),
                "daily_budget_amount_local_micro",
            ),
            (
                json!({"name": "a", "funding_instrument_id": "lygyi", "daily_budget_amount_local_micro": 11, "total_budget_amount_local_micro": 10}),
                "daily_budget_amount_local_micro",
            ),
            (
                json!({"name": "a", "funding_instrument_id": "lygyi", "total_budget_amount_local_micro": 0}),
                "total_budget_amount_local_micro",
            ),
            (
                json!({"name": "a", "funding_instrument_id": "lygyi", "bogus": 1}),
                "bogus",
            ),
            (
                json!({"name": "a", "funding_instrument_id": "lygyi", "daily_budget_amount_local_micro": "5"}),
                "body",
            ),
            (
                json!({"name": "a", "funding_instrument_id": "lygyi", "daily_budget_amount_local_micro": 1e30}),
                "body",
            ),
            (json!([1, 2]), "body"),
        ];
        for (body, field) in cases {
            let err = campaign(body.clone()).unwrap_err();
            assert_eq!(err.field, field, "{body} → {err}");
        }
    }

    #[test]
    fn line_item_rules() {
        let base = json!({"campaign_id": "8wku2", "objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS", "placements": ["ALL_ON_TWITTER"]});
        assert!(parse::<LineItemInput>(&base).unwrap().validate().is_ok());
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            parse::<LineItemInput>(&b).and_then(LineItemInput::validate)
        };
        assert_eq!(
            with("objective", json!("CLICKS")).unwrap_err().field,
            "objective"
        );
        assert_eq!(
            with("product_type", json!("X")).unwrap_err().field,
            "product_type"
        );
        assert_eq!(
            with("placements", json!([])).unwrap_err().field,
            "placements"
        );
        assert_eq!(
            with("placements", json!(["ALL_ON_TWITTER", "NOWHERE"]))
                .unwrap_err()
                .field,
            "placements[1]"
        );
        assert_eq!(
            with("placements", json!(["ALL_ON_TWITTER", "ALL_ON_TWITTER"]))
                .unwrap_err()
                .field,
            "placements[1]"
        );
        assert_eq!(
            with("bid_strategy", json!("MAX")).unwrap_err().field,
            "bid_amount_local_micro"
        );
        assert_eq!(
            with("bid_amount_local_micro", json!(0)).unwrap_err().field,
            "bid_amount_local_micro"
        );
        assert_eq!(
            with("campaign_id", json!("../x")).unwrap_err().field,
            "campaign_id"
        );
        assert!(with("campaign_id", json!("dry_abc123")).is_ok());
    }

    #[test]
    fn vocabularies_come_from_the_client_and_errors_keep_their_wording() {
        let base = json!({"campaign_id": "8wku2", "objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS", "placements": ["ALL_ON_TWITTER", "TWITTER_SEARCH"], "bid_strategy": "MAX", "bid_amount_local_micro": 5, "goal": "LINK_CLICKS", "pay_by": "ENGAGEMENT"});
        let li = parse::<LineItemInput>(&base).unwrap().validate().unwrap();
        assert_eq!(li.objective, Objective::Engagements);
        assert_eq!(
            li.placements,
            [
                LineItemPlacement::AllOnTwitter,
                LineItemPlacement::TwitterSearch
            ]
        );
        assert_eq!(li.bid_strategy, Some(BidStrategy::Max));
        assert_eq!(li.goal, Some(Goal::LinkClicks));
        // X's own v12 answers carry pay_by ENGAGEMENT.
        assert_eq!(li.pay_by, Some(PayBy::Engagement));
        let mut bad = base.clone();
        bad["objective"] = json!("CLICKS");
        let err = parse::<LineItemInput>(&bad)
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(
            err.message,
            format!("\"CLICKS\" is not one of {}", OBJECTIVES.join(", "))
        );
        assert_eq!(
            err.message,
            one_of("objective", "CLICKS", OBJECTIVES)
                .unwrap_err()
                .message
        );
        let mut bad = base;
        bad["goal"] = json!("engagement");
        let err = parse::<LineItemInput>(&bad)
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(err.field, "goal");
    }

    #[test]
    fn promoted_tweet_rules() {
        let p = |v: Value| parse::<PromotedTweetsInput>(&v).and_then(PromotedTweetsInput::validate);
        assert!(p(json!({"line_item_id": "8v7jo", "tweet_ids": ["1166476031668015104"]})).is_ok());
        assert_eq!(
            p(json!({"line_item_id": "8v7jo", "tweet_ids": []}))
                .unwrap_err()
                .field,
            "tweet_ids"
        );
        let many: Vec<String> = (0..51).map(|i| format!("{}", 1000 + i)).collect();
        assert_eq!(
            p(json!({"line_item_id": "8v7jo", "tweet_ids": many}))
                .unwrap_err()
                .field,
            "tweet_ids"
        );
        assert_eq!(
            p(json!({"line_item_id": "8v7jo", "tweet_ids": ["12a"]}))
                .unwrap_err()
                .field,
            "tweet_ids[0]"
        );
        assert_eq!(
            p(json!({"line_item_id": "8v7jo", "tweet_ids": ["1", "1"]}))
                .unwrap_err()
                .field,
            "tweet_ids[1]"
        );
    }
}
