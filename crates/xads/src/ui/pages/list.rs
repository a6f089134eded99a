//! What every list page shares: search by name, a status filter, sorting by a column and
//! pagination, read from the query string and written back into every link, so a list works
//! with links and a GET form alone (no script).

use std::cmp::Ordering;

use maud::{Markup, html};

use super::Fields;
use crate::ui::html::q;

/// Rows per page of a list.
pub(super) const PER_PAGE: usize = 20;

/// A value a list sorts by.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Key {
    /// Compared case-insensitively.
    Text(String),
    /// Compared as numbers; `None` (no data) sorts last either way.
    Num(Option<f64>),
}

impl Key {
    fn cmp(&self, other: &Key) -> Ordering {
        match (self, other) {
            (Key::Text(a), Key::Text(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
            (Key::Num(a), Key::Num(b)) => match (a, b) {
                (Some(a), Some(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
            (Key::Text(_), Key::Num(_)) => Ordering::Less,
            (Key::Num(_), Key::Text(_)) => Ordering::Greater,
        }
    }
}

/// A list's view: the search text, the status shown, the sort column and direction, the page.
/// Its query parameters carry a `prefix` so two lists can share a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Listing {
    prefix: &'static str,
    pub search: String,
    /// A status value, or empty for every status.
    pub status: String,
    pub sort: String,
    pub desc: bool,
    /// 1-based.
    pub page: usize,
}

/// One page of a filtered, sorted list.
#[derive(Debug)]
pub(super) struct Page<T> {
    pub rows: Vec<T>,
    /// Rows that passed the search and the filter (on every page).
    pub matched: usize,
    /// Pages of `matched` (at least 1).
    pub pages: usize,
}

impl Listing {
    /// The list's view from the page's query (`{prefix}q`, `{prefix}status`, `{prefix}sort`,
    /// `{prefix}dir`, `{prefix}page`), sorted by `default_sort` when none is asked.
    pub fn from_query(qs: &Fields, prefix: &'static str, default_sort: &str) -> Listing {
        let get = |k: &str| {
            qs.get(&format!("{prefix}{k}"))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let sort = get("sort");
        Listing {
            prefix,
            search: get("q"),
            status: get("status"),
            sort: if sort.is_empty() {
                default_sort.to_owned()
            } else {
                sort
            },
            desc: get("dir") == "desc",
            page: get("page").parse().unwrap_or(1).max(1),
        }
    }

    /// Filters `rows` by name and status, sorts them by the `key` of the sort column and cuts
    /// out the page (the last page when the asked one is past it).
    pub fn apply<T>(
        &self,
        rows: Vec<T>,
        name: impl Fn(&T) -> &str,
        status: impl Fn(&T) -> &str,
        key: impl Fn(&T, &str) -> Key,
    ) -> Page<T> {
        let needle = self.search.to_lowercase();
        let mut rows: Vec<T> = rows
            .into_iter()
            .filter(|r| needle.is_empty() || name(r).to_lowercase().contains(&needle))
            .filter(|r| self.status.is_empty() || status(r) == self.status)
            .collect();
        rows.sort_by(|a, b| {
            let o = key(a, &self.sort).cmp(&key(b, &self.sort));
            let o = if self.desc { o.reverse() } else { o };
            o.then_with(|| name(a).cmp(name(b)))
        });
        let matched = rows.len();
        let pages = matched.div_ceil(PER_PAGE).max(1);
        let page = self.page.min(pages);
        let rows = rows
            .into_iter()
            .skip((page - 1) * PER_PAGE)
            .take(PER_PAGE)
            .collect();
        Page {
            rows,
            matched,
            pages,
        }
    }

    /// The query of this view with `changes` applied (`("sort", "name")`, `("page", "2")`),
    /// appended to `base` (a path with its own query, e.g. `/campaigns?account=1`).
    fn href(&self, base: &str, changes: &[(&str, String)]) -> String {
        let mut parts: Vec<(&str, String)> = vec![
            ("q", self.search.clone()),
            ("status", self.status.clone()),
            ("sort", self.sort.clone()),
            ("dir", if self.desc { "desc" } else { "asc" }.to_owned()),
            ("page", self.page.to_string()),
        ];
        for (k, v) in changes {
            if let Some(p) = parts.iter_mut().find(|p| p.0 == *k) {
                p.1.clone_from(v);
            }
        }
        let mut out = base.to_owned();
        for (k, v) in parts {
            if v.is_empty() || (k == "page" && v == "1") {
                continue;
            }
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{}{k}={}", self.prefix, q(&v)));
        }
        out
    }

    /// The search and status controls: a GET form to `path` keeping the `hidden` fields (the
    /// account, the date range), the sort kept too.
    pub fn controls(
        &self,
        path: &str,
        hidden: &[(&str, &str)],
        what: &str,
        statuses: &[(&str, &str)],
    ) -> Markup {
        let p = self.prefix;
        let search_id = format!("{p}search");
        let status_id = format!("{p}status-filter");
        html! {
            form method="get" action=(path) class="row" role="search"
                aria-label={ "Search " (what) } {
                @for (k, v) in hidden {
                    input type="hidden" name=(k) value=(v);
                }
                input type="hidden" name={ (p) "sort" } value=(self.sort);
                input type="hidden" name={ (p) "dir" } value=(if self.desc { "desc" } else { "asc" });
                div {
                    label for=(search_id) { "Search " (what) }
                    input type="search" id=(search_id) name={ (p) "q" } value=(self.search);
                }
                div {
                    label for=(status_id) { "Status" }
                    select id=(status_id) name={ (p) "status" } {
                        option value="" selected[self.status.is_empty()] { "Any status" }
                        @for (value, label) in statuses {
                            option value=(value) selected[self.status == *value] { (label) }
                        }
                    }
                }
                div { button type="submit" { "Filter" } }
                @if !self.search.is_empty() || !self.status.is_empty() {
                    div {
                        a class="btn" href=(self.href(base_of(path, hidden).as_str(), &[
                            ("q", String::new()), ("status", String::new()), ("page", "1".into()),
                        ])) { "Clear" }
                    }
                }
            }
        }
    }

    /// A column header that sorts by `key` (ascending first; again: descending), marked with
    /// `aria-sort` while it is the sort column.
    pub fn th(&self, base: &str, key: &str, label: &str, numeric: bool) -> Markup {
        let on = self.sort == key;
        let sort = on.then_some(if self.desc { "descending" } else { "ascending" });
        let next_desc = if on { !self.desc } else { numeric };
        let href = self.href(
            base,
            &[
                ("sort", key.to_owned()),
                ("dir", if next_desc { "desc" } else { "asc" }.to_owned()),
                ("page", "1".into()),
            ],
        );
        let arrow = match sort {
            Some("ascending") => " ▲",
            Some(_) => " ▼",
            None => "",
        };
        html! {
            th class=[numeric.then_some("n")] aria-sort=[sort] {
                a href=(href) { (label) (arrow) }
            }
        }
    }

    /// "Page n of m" with previous and next links, and how many rows matched.
    pub fn pager<T>(&self, base: &str, page: &Page<T>, what: &str) -> Markup {
        let current = self.page.min(page.pages);
        html! {
            nav class="pager" aria-label={ (what) " pages" } {
                span class="note" {
                    (crate::ui::html::counted(page.matched as u64, what))
                    @if page.pages > 1 { " · page " (current) " of " (page.pages) }
                }
                @if current > 1 {
                    a class="btn" rel="prev"
                        href=(self.href(base, &[("page", (current - 1).to_string())])) { "← Previous" }
                }
                @if current < page.pages {
                    a class="btn" rel="next"
                        href=(self.href(base, &[("page", (current + 1).to_string())])) { "Next →" }
                }
            }
        }
    }
}

/// `path` with the `hidden` fields as its query (the base of a list's links).
pub(super) fn base_of(path: &str, hidden: &[(&str, &str)]) -> String {
    let mut out = path.to_owned();
    for (k, v) in hidden {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(&format!("{k}={}", q(v)));
    }
    out
}

/// A value of X's vocabulary in words: `WEBSITE_CLICKS` → "Website clicks",
/// `ALL_ON_TWITTER` → "All on X", `TRANSCODE_COMPLETED` → "Ready".
pub(super) fn words(wire: &str) -> String {
    match wire {
        "TRANSCODE_COMPLETED" => return "Ready".into(),
        "TRANSCODE_IN_PROGRESS" | "PROCESSING" | "IN_PROGRESS" => return "Processing".into(),
        "TRANSCODE_FAILED" | "FAILED" => return "Failed".into(),
        "TRANSCODE_PENDING" | "PENDING" => return "Waiting to process".into(),
        "AMPLIFY_VIDEO" => return "Video (pre-roll)".into(),
        "TWEET_IMAGE" => return "Image".into(),
        "TWEET_GIF" => return "GIF".into(),
        "TWEET_VIDEO" => return "Video".into(),
        "GIF" => return "GIF".into(),
        "CPC" | "CPA" | "CPI" | "CPM" | "CPV" | "CTR" => return wire.into(),
        _ => {}
    }
    let lower = wire
        .replace('_', " ")
        .to_lowercase()
        .replace("twitter", "X");
    let mut chars = lower.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qs(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn rows() -> Vec<(String, &'static str, f64)> {
        (0..45)
            .map(|i| {
                let status = if i % 3 == 0 { "paused" } else { "active" };
                (format!("Campaign {i:02}"), status, f64::from(i % 7))
            })
            .collect()
    }

    fn apply(l: &Listing) -> Page<(String, &'static str, f64)> {
        l.apply(
            rows(),
            |r| r.0.as_str(),
            |r| r.1,
            |r, k| match k {
                "spend" => Key::Num(Some(r.2)),
                _ => Key::Text(r.0.clone()),
            },
        )
    }

    #[test]
    fn a_list_filters_sorts_and_pages() {
        let all = apply(&Listing::from_query(&qs(&[]), "", "name"));
        assert_eq!((all.matched, all.pages, all.rows.len()), (45, 3, PER_PAGE));
        assert_eq!(all.rows[0].0, "Campaign 00");

        let last = apply(&Listing::from_query(&qs(&[("page", "9")]), "", "name"));
        assert_eq!(last.rows.len(), 5, "past the end shows the last page");
        assert_eq!(last.rows[4].0, "Campaign 44");

        let paused = apply(&Listing::from_query(
            &qs(&[("status", "paused")]),
            "",
            "name",
        ));
        assert_eq!(paused.matched, 15);
        assert!(paused.rows.iter().all(|r| r.1 == "paused"));

        let found = apply(&Listing::from_query(
            &qs(&[("q", "campaign 1")]),
            "",
            "name",
        ));
        assert_eq!(found.matched, 10, "case-insensitive name search");

        let by_spend = apply(&Listing::from_query(
            &qs(&[("sort", "spend"), ("dir", "desc")]),
            "",
            "name",
        ));
        assert_eq!(by_spend.rows[0].2, 6.0);
        assert!(by_spend.rows.windows(2).all(|w| w[0].2 >= w[1].2));
    }

    #[test]
    fn links_keep_the_view_and_a_prefix_keeps_lists_apart() {
        let l = Listing::from_query(
            &qs(&[("li_q", "a&b"), ("li_sort", "bid"), ("q", "other")]),
            "li_",
            "name",
        );
        assert_eq!(l.search, "a&b");
        let header = l
            .th("/campaigns/1/c?account=1", "bid", "Bid", true)
            .into_string();
        assert!(header.contains("aria-sort=\"ascending\""), "{header}");
        assert!(
            header.contains("li_q=a%26b&amp;li_sort=bid&amp;li_dir=desc"),
            "{header}"
        );
        let page = Page::<()> {
            rows: vec![],
            matched: 45,
            pages: 3,
        };
        let pager = l.pager("/x", &page, "line items").into_string();
        assert!(
            pager.contains("li_page=2") && !pager.contains("rel=\"prev\""),
            "{pager}"
        );
    }

    #[test]
    fn vocabulary_reads_as_words() {
        assert_eq!(words("WEBSITE_CLICKS"), "Website clicks");
        assert_eq!(words("ALL_ON_TWITTER"), "All on X");
        assert_eq!(words("TWITTER_TIMELINE"), "X timeline");
        assert_eq!(words("TRANSCODE_COMPLETED"), "Ready");
        assert_eq!(words("AMPLIFY_VIDEO"), "Video (pre-roll)");
    }
}
