//! Property tests (quality.md, security): money and FX (half-even to 6 places, exact, monotonic
//! in the rate, no panics) and the input validators (never panic; what they accept is valid).

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use xads::fx;
use xads::manage::input;

/// Half-even rounding of `num / den` (den > 0), computed on integers.
fn div_half_even(num: i128, den: i128) -> i128 {
    let q = num.div_euclid(den);
    let r = num.rem_euclid(den);
    match (2 * r).cmp(&den) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// A rate as X-free decimal text: `digits` × 10^-scale, within what `rate_value` accepts.
fn rate() -> impl Strategy<Value = (i64, u32)> {
    (1i64..=1_000_000_000_000, 0u32..=12).prop_filter("≤ the accepted maximum", |(d, s)| {
        Decimal::new(*d, *s) <= Decimal::from(1_000_000)
    })
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,10}".prop_map(Value::from),
        "[a-z0-9]{1,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 16, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("funding_instrument_id".to_owned()),
                    Just("daily_budget_amount_local_micro".to_owned()),
                    Just("total_budget_amount_local_micro".to_owned()),
                    Just("paused".to_owned()),
                    Just("campaign_id".to_owned()),
                    Just("objective".to_owned()),
                    Just("product_type".to_owned()),
                    Just("placements".to_owned()),
                    Just("bid_amount_local_micro".to_owned()),
                    Just("line_item_id".to_owned()),
                    Just("tweet_ids".to_owned()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// USD = micros / 10^6 × rate, half-even at 6 places, exactly (checked on integers).
    #[test]
    fn spend_usd_is_exact_half_even_at_6_places(micros in any::<i64>(), (digits, scale) in rate()) {
        let r = Decimal::new(digits, scale);
        let usd = fx::spend_usd(micros, r);
        prop_assert_eq!(usd.scale(), 6);
        // usd × 10^6 = micros × digits / 10^scale, rounded half-even.
        let want = div_half_even(i128::from(micros) * i128::from(digits), 10i128.pow(scale));
        prop_assert_eq!(usd.mantissa(), want);
    }

    #[test]
    fn spend_usd_is_monotonic_in_the_rate(micros in any::<i64>(), a in rate(), b in rate()) {
        let (ra, rb) = (Decimal::new(a.0, a.1), Decimal::new(b.0, b.1));
        let (lo, hi) = if ra <= rb { (ra, rb) } else { (rb, ra) };
        let (ulo, uhi) = (fx::spend_usd(micros, lo), fx::spend_usd(micros, hi));
        if micros >= 0 {
            prop_assert!(ulo <= uhi);
        } else {
            prop_assert!(ulo >= uhi);
        }
    }

    /// Whatever text `rate_value` accepts converts any spend without a panic.
    #[test]
    fn accepted_rates_convert_any_spend(raw in prop_oneof![
        "[0-9]{1,30}(\\.[0-9]{0,30})?",
        "-?[0-9.eE+-]{0,12}",
        ".{0,16}",
    ], micros in prop_oneof![Just(i64::MAX), Just(i64::MIN), any::<i64>()]) {
        if let Ok(r) = fx::rate_value(&raw) {
            prop_assert!(r > Decimal::ZERO);
            let _ = fx::spend_usd(micros, r);
        }
    }

    #[test]
    fn fx_parsers_never_panic(s in ".{0,40}") {
        let _ = fx::currency(&s);
        let _ = fx::date(&s);
        let _ = fx::rate_value(&s);
        let _ = fx::parse_csv(&format!("date,currency,usd_per_unit\n{s}\n"), fx::Source::Csv);
        let _ = fx::parse_file(&s);
    }

    #[test]
    fn validators_never_panic_and_accept_only_valid_values(s in ".{0,300}", n in any::<i64>(), m in any::<i64>()) {
        if let Ok(v) = input::name("name", &s) {
            prop_assert!(!v.is_empty() && v.chars().count() <= 255);
            prop_assert!(!v.chars().any(char::is_control));
        }
        if let Ok(id) = input::entity_id("id", &s) {
            prop_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        }
        prop_assert_eq!(input::micros("m", n).is_ok(), n > 0);
        if input::budgets(Some(n), Some(m)).is_ok() {
            prop_assert!(n > 0 && m > 0 && n <= m);
        }
        let _ = input::one_of("e", &s, &["ACTIVE", "PAUSED"]);
    }

    /// Arbitrary JSON bodies: parsing and validation never panic, whatever they decide.
    #[test]
    fn write_bodies_never_panic(v in any_json()) {
        if let Ok(c) = input::parse::<input::CampaignInput>(&v) {
            let _ = c.validate();
        }
        if let Ok(p) = input::parse::<input::CampaignPatch>(&v) {
            let _ = p.validate(&json!({"daily_budget_amount_local_micro": 5, "total_budget_amount_local_micro": 10}));
        }
        if let Ok(l) = input::parse::<input::LineItemInput>(&v) {
            let _ = l.validate();
        }
        if let Ok(p) = input::parse::<input::LineItemPatch>(&v) {
            let _ = p.validate(&json!({}));
        }
        if let Ok(p) = input::parse::<input::PromotedTweetsInput>(&v) {
            let _ = p.validate();
        }
    }
}
