//! Property tests (quality.md, security: parsers of X's answers never panic on arbitrary input;
//! numbers-as-strings round-trip).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::{Value, json};
use xads_client::envelope::{RawResponse, decode_envelope, decode_error, decode_whole};
use xads_client::headers::parse_rate_limit;
use xads_client::models::{Campaign, StatsResponse};

fn raw(status: u16, headers: HeaderMap, body: Vec<u8>) -> RawResponse {
    RawResponse {
        status,
        rate_limit: parse_rate_limit(&headers),
        request_id: None,
        headers,
        body: Bytes::from(body),
    }
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("data".to_owned()),
                    Just("errors".to_owned()),
                    Just("next_cursor".to_owned()),
                    Just("total_count".to_owned()),
                    Just("request".to_owned()),
                    Just("code".to_owned()),
                    Just("message".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn header_names() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("x-rate-limit-limit"),
        Just("x-rate-limit-remaining"),
        Just("x-rate-limit-reset"),
        Just("x-account-rate-limit-limit"),
        Just("x-account-rate-limit-remaining"),
        Just("x-account-rate-limit-reset"),
        Just("retry-after"),
        Just("x-transaction"),
    ]
}

fn header_values() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "[0-9]{0,30}",
        "[ -~]{0,20}",
        Just("-0".to_owned()),
        Just("1e99".to_owned()),
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rate_limit_headers_never_panic(pairs in prop::collection::vec((header_names(), header_values()), 0..8)) {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.append(HeaderName::from_static(k), v);
            }
        }
        let info = parse_rate_limit(&h);
        let _ = format!("{info:?}");
    }

    #[test]
    fn envelopes_and_errors_never_panic_on_arbitrary_bytes(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..256)) {
        let r = raw(status, HeaderMap::new(), body);
        let _ = decode_envelope::<Vec<Campaign>>("prop", r.clone());
        let _ = decode_whole::<StatsResponse>("prop", r.clone());
        let e = decode_error("prop", &r);
        let _ = (e.to_string(), e.status(), e.is_retryable(), e.is_ambiguous(), e.class());
    }

    #[test]
    fn envelopes_and_errors_never_panic_on_arbitrary_json(status in 100u16..600, v in any_json()) {
        let r = raw(status, HeaderMap::new(), serde_json::to_vec(&v).unwrap());
        let _ = decode_envelope::<Vec<Campaign>>("prop", r.clone());
        let _ = decode_envelope::<Campaign>("prop", r.clone());
        let _ = decode_whole::<StatsResponse>("prop", r.clone());
        let e = decode_error("prop", &r);
        let _ = (e.to_string(), e.first_code(), e.class());
    }

    /// X sends some integers as strings: either way, the same number comes out.
    #[test]
    fn numbers_as_strings_round_trip(id in any::<u64>(), budget in any::<i64>(), as_string in any::<bool>()) {
        let (id_v, budget_v) = if as_string {
            (json!(id.to_string()), json!(budget.to_string()))
        } else {
            (json!(id), json!(budget))
        };
        let body = json!({"data": {"id": id_v, "daily_budget_amount_local_micro": budget_v,
            "total_budget_amount_local_micro": ""}, "request": {"params": {}}});
        let r = raw(200, HeaderMap::new(), serde_json::to_vec(&body).unwrap());
        let c = decode_envelope::<Campaign>("prop", r).unwrap().data;
        prop_assert_eq!(c.id, id.to_string());
        prop_assert_eq!(c.daily_budget_amount_local_micro, Some(budget));
        prop_assert_eq!(c.total_budget_amount_local_micro, None);
        // And back: what we serialize reads back the same.
        let again = serde_json::to_value(Campaign {
            id: id.to_string(),
            ..serde_json::from_value::<Campaign>(json!({"id": "1"})).unwrap()
        }).unwrap();
        let want = id.to_string();
        prop_assert_eq!(again["id"].as_str(), Some(want.as_str()));
    }
}
