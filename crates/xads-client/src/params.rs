//! Encoding request parameters the way X wants them.
//!
//! X takes every parameter of every method in the query string (x-ads-api.md §4): lists are
//! comma-joined, times are `YYYY-MM-DDTHH:MM:SSZ`, booleans `true`/`false`. Values are
//! percent-encoded per RFC 3986 (only `A-Z a-z 0-9 - . _ ~` left bare, so `:` and `,` are encoded),
//! the same encoding OAuth 1.0a signs, so the URL and its signature always agree.

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 3986 unreserved characters stay; everything else is encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes per RFC 3986 §2.3 (as RFC 5849 §3.6 requires), e.g. `a,b:c` → `a%2Cb%3Ac`.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Formats a time as X wants it: `2017-07-06T16:51:04Z` (UTC, whole seconds).
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A value that may be cleared on update: `None` = leave as is, `Some(None)` = send the parameter
/// empty so X unsets it (x-ads-api.md §1: "send a param with an empty value to unset it").
pub type Clearable<T> = Option<Option<T>>;

/// An ordered list of request parameters (keys may repeat only if the caller pushes twice).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`.
    pub fn push(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.push((key.to_owned(), value.into()));
        self
    }

    /// Adds `key=value` when a value is given.
    pub fn opt<V: ToString>(&mut self, key: &str, value: Option<V>) -> &mut Self {
        if let Some(v) = value {
            self.push(key, v.to_string());
        }
        self
    }

    /// Adds `key=value`, `key=` (clear) or nothing.
    pub fn clearable<V: ToString>(&mut self, key: &str, value: &Clearable<V>) -> &mut Self {
        match value {
            Some(Some(v)) => self.push(key, v.to_string()),
            Some(None) => self.push(key, ""),
            None => self,
        }
    }

    /// Adds a comma-joined list; an empty list adds nothing.
    pub fn list<S: AsRef<str>>(&mut self, key: &str, values: &[S]) -> &mut Self {
        if !values.is_empty() {
            let joined = values
                .iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(",");
            self.push(key, joined);
        }
        self
    }

    /// Adds a time as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn time(&mut self, key: &str, t: Option<DateTime<Utc>>) -> &mut Self {
        if let Some(t) = t {
            self.push(key, format_time(t));
        }
        self
    }

    /// Adds `true`/`false` when given.
    pub fn flag(&mut self, key: &str, value: Option<bool>) -> &mut Self {
        self.opt(key, value)
    }

    /// The first value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs in order, unencoded.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends all of `other`.
    pub fn extend(&mut self, other: Params) -> &mut Self {
        self.0.extend(other.0);
        self
    }

    /// `k=v&k2=v2`, RFC 3986 encoded.
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Something that turns into request parameters (the typed request structs).
pub trait ToParams {
    /// The parameters to send.
    fn to_params(&self) -> Params;
}

impl ToParams for Params {
    fn to_params(&self) -> Params {
        self.clone()
    }
}

/// The parameters shared by X's list endpoints (x-ads-api.md §4 "Common list params").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    /// Page size (X: 1..=1000; media library 1..=50). `None` = X's default.
    pub count: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// e.g. `created_at-desc`, `updated_at-desc`.
    pub sort_by: Option<String>,
    /// Include deleted entities.
    pub with_deleted: Option<bool>,
    /// Include drafts (campaigns, line items).
    pub with_draft: Option<bool>,
    /// Ask for `total_count` (X limits such calls to 200 per 15 min).
    pub with_total_count: Option<bool>,
    /// Name search.
    pub q: Option<String>,
    /// Id filters, e.g. `("campaign_ids", ["8wku2"])`.
    pub ids: Vec<(&'static str, Vec<String>)>,
    /// Any other parameter (e.g. `media_type`).
    pub extra: Vec<(String, String)>,
}

impl ListParams {
    /// Default parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `count`.
    pub fn count(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }

    /// Sets `cursor`.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Sets `sort_by`.
    pub fn sort_by(mut self, sort_by: impl Into<String>) -> Self {
        self.sort_by = Some(sort_by.into());
        self
    }

    /// Sets `with_deleted`.
    pub fn with_deleted(mut self, yes: bool) -> Self {
        self.with_deleted = Some(yes);
        self
    }

    /// Sets `with_draft`.
    pub fn with_draft(mut self, yes: bool) -> Self {
        self.with_draft = Some(yes);
        self
    }

    /// Sets `with_total_count`.
    pub fn with_total_count(mut self, yes: bool) -> Self {
        self.with_total_count = Some(yes);
        self
    }

    /// Sets `q`.
    pub fn q(mut self, q: impl Into<String>) -> Self {
        self.q = Some(q.into());
        self
    }

    /// Adds an id filter such as `campaign_ids`.
    pub fn ids<S: Into<String>>(
        mut self,
        key: &'static str,
        ids: impl IntoIterator<Item = S>,
    ) -> Self {
        self.ids
            .push((key, ids.into_iter().map(Into::into).collect()));
        self
    }

    /// Adds another parameter.
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }
}

impl ToParams for ListParams {
    fn to_params(&self) -> Params {
        let mut p = Params::new();
        for (key, ids) in &self.ids {
            p.list(key, ids);
        }
        p.opt("count", self.count)
            .opt("cursor", self.cursor.as_deref())
            .opt("sort_by", self.sort_by.as_deref())
            .flag("with_deleted", self.with_deleted)
            .flag("with_draft", self.with_draft)
            .flag("with_total_count", self.with_total_count)
            .opt("q", self.q.as_deref());
        for (k, v) in &self.extra {
            p.push(k, v.clone());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rfc3986_encoding_covers_colon_comma_space_plus() {
        assert_eq!(percent_encode("a,b:c"), "a%2Cb%3Ac");
        assert_eq!(
            percent_encode("Hello Ladies + Gentlemen, a signed OAuth request!"),
            "Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21"
        );
        assert_eq!(percent_encode("-._~"), "-._~");
        assert_eq!(percent_encode("☃"), "%E2%98%83");
    }

    #[test]
    fn time_is_whole_seconds_utc_with_z() {
        let t = Utc.with_ymd_and_hms(2026, 5, 19, 7, 0, 0).unwrap()
            + chrono::Duration::milliseconds(250);
        assert_eq!(format_time(t), "2026-05-19T07:00:00Z");
    }

    #[test]
    fn lists_bools_and_clearables() {
        let mut p = Params::new();
        p.list("tweet_ids", &["1", "2"])
            .list::<&str>("empty_ids", &[])
            .flag("with_deleted", Some(true))
            .clearable::<String>("end_time", &Some(None))
            .clearable::<i64>("total_budget_amount_local_micro", &None)
            .opt::<u32>("count", None);
        assert_eq!(p.encode(), "tweet_ids=1%2C2&with_deleted=true&end_time=");
    }

    #[test]
    fn list_params_encode_in_a_stable_order() {
        let p = ListParams::new()
            .ids("campaign_ids", ["a", "b"])
            .count(1000)
            .cursor("c-1")
            .sort_by("created_at-desc")
            .with_deleted(true)
            .with_draft(false)
            .q("spring sale")
            .to_params();
        assert_eq!(
            p.encode(),
            "campaign_ids=a%2Cb&count=1000&cursor=c-1&sort_by=created_at-desc&with_deleted=true&with_draft=false&q=spring%20sale"
        );
    }
}
