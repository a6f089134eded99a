//! How the domain's typed results are answered: one status and one JSON body per type. The
//! domain returns values ([`Created`], [`Entity`], [`Paused`], [`ExperimentView`], …); only
//! this module knows that a creation is a 201 or what the JSON looks like.
//!
//! Bodies are built as `serde_json::Value`s and written with `to_string`, whose objects list
//! their keys in sorted order: the same bytes the API has always answered (the golden snapshot
//! in `tests/integration/snapshot.rs` holds them).

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::experiments::{
    ExperimentPage, ExperimentView, QUASI_EXPERIMENT_NOTE, RESULTS_METHOD, Results, stats::Estimate,
};
use crate::manage::mirror::EntityPage;
use crate::manage::{Attached, Created, Paused};
use crate::media::{MediaEntry, MediaPage, Uploaded};
use crate::store::entities::Entity;
use crate::store::stats as stats_store;
use xads_client::vocab::COLUMNS;

/// A domain result the API answers: its status and JSON body.
pub trait Answer {
    /// 200 unless said otherwise.
    fn status(&self) -> StatusCode {
        StatusCode::OK
    }
    /// The JSON text.
    fn body(&self) -> String {
        self.json().to_string()
    }
    /// The JSON document.
    fn json(&self) -> Value;
}

impl<T: Answer> Answer for Created<T> {
    fn status(&self) -> StatusCode {
        StatusCode::CREATED
    }
    fn json(&self) -> Value {
        self.0.json()
    }
}

/// A campaign, line item or promoted tweet: the mirror's document (`deleted: true` after a
/// delete).
impl Answer for Entity {
    fn body(&self) -> String {
        self.data.to_string()
    }
    fn json(&self) -> Value {
        self.data.clone()
    }
}

/// `{"id", "ids", "data", "dry_run"}`: the first id, all of them, the documents, and whether
/// they are dry-run ones.
impl Answer for Attached {
    fn json(&self) -> Value {
        json!({
            "id": self.first().map(|e| e.id.clone()),
            "ids": self.0.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            "data": self.0.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
            "dry_run": self.first().is_none_or(|e| e.dry_run),
        })
    }
}

/// The promoted tweet's document with `paused_via`: `put` or `delete`.
impl Answer for Paused {
    fn json(&self) -> Value {
        let mut data = self.entity.data.clone();
        data["paused_via"] = json!(self.via.as_str());
        data
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Answer for ExperimentView {
    fn json(&self) -> Value {
        let e = &self.experiment;
        let variants: Vec<Value> = self
            .variants
            .iter()
            .map(|v| {
                let (s, paused) = (&v.variant, v.paused);
                json!({
                    "name": s.name, "control": s.control, "tweet_id": s.tweet_id,
                    "line_item_id": s.line_item_id, "promoted_tweet_id": s.promoted_tweet_id,
                    "paused": paused,
                    "expected_paused": s.expected_paused, "drift": s.drift,
                    "line_item": s.line_item,
                })
            })
            .collect();
        json!({
            "id": e.id, "account_id": e.account_id, "name": e.name, "campaign_id": e.campaign_id,
            "primary_metric": e.primary_metric, "schedule": e.schedule, "stop": e.rules,
            "status": e.status, "dry_run": e.dry_run, "problem": e.problem,
            "winner": e.winner, "conclusion": e.conclusion,
            "created_at": rfc3339(e.created_at), "started_at": e.started_at.map(rfc3339),
            "stopped_at": e.stopped_at.map(rfc3339),
            "next_switch": self.next_switch.map(rfc3339), "variants": variants,
            "note": QUASI_EXPERIMENT_NOTE,
        })
    }
}

/// `{"data": [...], "next_cursor": …}`: a page of the account's experiments.
impl Answer for ExperimentPage {
    fn json(&self) -> Value {
        json!({
            "data": self.items.iter().map(Answer::json).collect::<Vec<_>>(),
            "next_cursor": self.next_cursor,
        })
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn estimate(x: Estimate) -> Value {
    json!({"value": x.value.map(round6), "low": x.low.map(round6), "high": x.high.map(round6)})
}

/// Figures to 6 places; spend as a decimal string.
impl Answer for Results {
    fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .variants
            .iter()
            .map(|v| {
                let t = &v.totals;
                let mut row = json!({
                    "name": v.name, "control": v.control, "line_item_id": v.line_item_id,
                    "paused": v.paused,
                    "spend_usd": format!("{:.6}", t.spend_usd),
                    "p_value_vs_control": v.p_value_vs_control.map(round6),
                    "p_best": v.p_best.map(round6),
                });
                // The stored metrics under their column names, and every metric one can judge on.
                for (col, value) in [
                    (stats_store::IMPRESSIONS, t.impressions),
                    (stats_store::CLICKS, t.clicks),
                    (stats_store::CONVERSIONS, t.conversions),
                    (stats_store::INSTALLS, t.installs),
                ] {
                    row[COLUMNS[col].name] = json!(value);
                }
                for (m, e) in v.estimates {
                    row[m.as_str()] = estimate(e);
                }
                row
            })
            .collect();
        json!({
            "experiment_id": self.experiment_id,
            "primary_metric": self.primary_metric,
            "verdict": self.verdict.as_str(),
            "winner": self.winner,
            "variants": rows,
            "method": RESULTS_METHOD,
            "note": QUASI_EXPERIMENT_NOTE,
        })
    }
}

/// A media library entry's document.
impl Answer for MediaEntry {
    fn json(&self) -> Value {
        self.0.clone()
    }
}

/// 201 with the new entry, or 200 with the one this file already made.
impl Answer for Uploaded {
    fn status(&self) -> StatusCode {
        match self {
            Uploaded::Created(_) => StatusCode::CREATED,
            Uploaded::Existing(_) => StatusCode::OK,
        }
    }
    fn json(&self) -> Value {
        match self {
            Uploaded::Created(e) | Uploaded::Existing(e) => e.json(),
        }
    }
}

/// `{"data": [...], "next_cursor": …}`.
impl Answer for MediaPage {
    fn json(&self) -> Value {
        json!({
            "data": self.entries.iter().map(|e| e.0.clone()).collect::<Vec<_>>(),
            "next_cursor": self.next_cursor,
        })
    }
}

impl EntityPage {
    /// `{"data":[…],"next_cursor":…}`, written from the stored documents without parsing them,
    /// as the three buffers it is made of: the documents are shared, not copied (the page of a
    /// list is tens of kilobytes, answered from the page cache).
    pub fn parts(&self) -> [bytes::Bytes; 3] {
        let end = match &self.next_cursor {
            Some(n) => format!("],\"next_cursor\":\"{n}\"}}"),
            None => "],\"next_cursor\":null}".to_owned(),
        };
        [
            bytes::Bytes::from_static(b"{\"data\":["),
            self.joined.clone(),
            end.into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manage::PausedVia;
    use crate::store::entities::Kind;

    fn tweet(id: &str, dry_run: bool) -> Entity {
        Entity {
            kind: Kind::PromotedTweet,
            account_id: "18ce54d4x5t".into(),
            id: id.into(),
            parent_id: Some("8v7jo".into()),
            dry_run,
            deleted: false,
            data: json!({"id": id, "paused": true, "dry_run": dry_run}),
        }
    }

    #[test]
    fn a_creation_is_201_with_the_inner_body() {
        let e = tweet("1a2b", false);
        let created = Created(tweet("1a2b", false));
        assert_eq!(created.status(), StatusCode::CREATED);
        assert_eq!(created.body(), e.body());
        assert_eq!(e.status(), StatusCode::OK);
    }

    #[test]
    fn attached_tweets_answer_ids_data_and_mode() {
        let a = Attached(vec![tweet("1a2b", true), tweet("3c4d", true)]);
        assert_eq!(
            a.body(),
            r#"{"data":[{"dry_run":true,"id":"1a2b","paused":true},{"dry_run":true,"id":"3c4d","paused":true}],"dry_run":true,"id":"1a2b","ids":["1a2b","3c4d"]}"#
        );
        assert_eq!(
            Attached(vec![]).body(),
            r#"{"data":[],"dry_run":true,"id":null,"ids":[]}"#
        );
    }

    #[test]
    fn a_pause_says_which_way_it_went() {
        let p = Paused {
            entity: tweet("1a2b", false),
            via: PausedVia::Delete,
        };
        assert_eq!(
            p.body(),
            r#"{"dry_run":false,"id":"1a2b","paused":true,"paused_via":"delete"}"#
        );
    }

    #[test]
    fn an_upload_of_a_known_file_is_200_a_new_one_201() {
        let entry = || MediaEntry(json!({"id": "3_1"}));
        assert_eq!(Uploaded::Created(entry()).status(), StatusCode::CREATED);
        assert_eq!(Uploaded::Existing(entry()).status(), StatusCode::OK);
        assert_eq!(Uploaded::Existing(entry()).body(), r#"{"id":"3_1"}"#);
    }

    #[test]
    fn an_entity_page_is_written_from_the_stored_text() {
        let page = EntityPage {
            joined: r#"{"id":"a"},{"id":"b"}"#.into(),
            next_cursor: Some("2".into()),
        };
        let body: Vec<u8> = page.parts().concat();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"data":[{"id":"a"},{"id":"b"}],"next_cursor":"2"}"#
        );
        assert_eq!(page.joined.as_ptr(), page.parts()[1].as_ptr(), "not copied");
        let last = EntityPage {
            joined: bytes::Bytes::new(),
            next_cursor: None,
        };
        assert_eq!(
            last.parts().concat(),
            br#"{"data":[],"next_cursor":null}"#.to_vec()
        );
    }
}
