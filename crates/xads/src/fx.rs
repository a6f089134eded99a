//! Foreign exchange for reporting (PRODUCT.md §4.7, §5.1): reference rates as USD per one unit of
//! a currency, their sources (the bundled table, ECB `eurofxref` XML, CSV, the API), and the one
//! conversion rule `spend_usd = spend_local_micro / 10^6 × fx_rate`, rounded half-even to 6 places.
//!
//! Everything is `rust_decimal`: a float would make the same spend convert to different cents on
//! different runs of the arithmetic.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

/// The bundled reference table (`crates/xads/data/fx_rates.csv`), loaded on start.
pub const BUNDLED_CSV: &str = include_str!("../data/fx_rates.csv");

/// Places kept for a rate derived by division (ECB cross rates).
const RATE_PLACES: u32 = 10;
/// Places of `spend_usd`.
pub const USD_PLACES: u32 = 6;

/// Where a rate came from (stored as `fx_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The table shipped in the binary.
    Bundled,
    /// An ECB `eurofxref` XML import.
    Ecb,
    /// A CSV import.
    Csv,
    /// `POST /api/v1/fx_rates`.
    Api,
}

impl Source {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Bundled => "bundled",
            Source::Ecb => "ecb",
            Source::Csv => "csv",
            Source::Api => "api",
        }
    }
}

/// One reference rate: on `date`, one unit of `currency` was worth `usd_per_unit` US dollars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rate {
    /// ISO-4217 code, upper case.
    pub currency: String,
    /// The rate's date.
    pub date: NaiveDate,
    /// USD per one unit of `currency` (> 0).
    pub usd_per_unit: Decimal,
    /// Where it came from.
    pub source: Source,
}

/// Why a rate file or field could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct FxError {
    /// The field or line at fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FxError {
    /// The same failure, named by where it was in the request (`rates[2].date`).
    pub fn at(self, field: &str) -> FxError {
        FxError {
            field: field.to_owned(),
            ..self
        }
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FxError {
    FxError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks an ISO-4217 code (three ASCII letters) and returns it upper case.
pub fn currency(raw: &str) -> Result<String, FxError> {
    let c = raw.trim();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(c.to_ascii_uppercase())
    } else {
        Err(err(
            "currency",
            format!("expected an ISO-4217 code, got {c:?}"),
        ))
    }
}

/// Parses `YYYY-MM-DD`.
pub fn date(raw: &str) -> Result<NaiveDate, FxError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| err("date", format!("expected YYYY-MM-DD, got {:?}", raw.trim())))
}

/// The largest USD-per-unit rate accepted.
pub const MAX_RATE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Parses a positive decimal rate (no exponent, no float rounding).
pub fn rate_value(raw: &str) -> Result<Decimal, FxError> {
    let d: Decimal = raw.trim().parse().map_err(|_| {
        err(
            "usd_per_unit",
            format!("expected a decimal, got {:?}", raw.trim()),
        )
    })?;
    if d <= Decimal::ZERO {
        return Err(err("usd_per_unit", "must be greater than 0"));
    }
    // No currency is worth a million USD; the bound also keeps `spend_usd` of any i64 spend
    // inside Decimal's range (a larger rate made it panic with "Multiplication overflowed").
    if d > MAX_RATE {
        return Err(err("usd_per_unit", "must be at most 1000000"));
    }
    Ok(d.normalize())
}

/// USD for `spend_local_micro` at `usd_per_unit`: micros / 10^6 × rate, half-even to 6 places.
pub fn spend_usd(spend_local_micro: i64, usd_per_unit: Decimal) -> Decimal {
    let local = Decimal::from_i128_with_scale(i128::from(spend_local_micro), 6);
    let mut usd = (local * usd_per_unit)
        .round_dp_with_strategy(USD_PLACES, RoundingStrategy::MidpointNearestEven);
    usd.rescale(USD_PLACES);
    usd
}

/// USD per event (cost per install, per conversion): `usd / count`, half-even to 6 places,
/// exact (integer arithmetic on the micro-dollars, no float). `None` when `count` is not
/// positive: no events, no cost per event.
pub fn usd_per(usd: Decimal, count: i64) -> Option<Decimal> {
    if count <= 0 {
        return None;
    }
    let mut micros = usd;
    micros.rescale(USD_PLACES);
    let micros = micros.mantissa();
    let n = i128::from(count);
    let (q, r) = (micros.div_euclid(n), micros.rem_euclid(n));
    // `q` rounded down, `r` in [0, n): round half to even.
    let q = match (2 * r).cmp(&n) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal if q % 2 != 0 => q + 1,
        _ => q,
    };
    let mut out = Decimal::from_i128_with_scale(q, USD_PLACES);
    out.rescale(USD_PLACES);
    Some(out)
}

/// Parses CSV with the header `date,currency,usd_per_unit` (blank lines and `#` comments
/// ignored).
pub fn parse_csv(text: &str, source: Source) -> Result<Vec<Rate>, FxError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let header = lines.next().map(|(_, l)| l).unwrap_or_default();
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if cols != ["date", "currency", "usd_per_unit"] {
        return Err(err(
            "header",
            format!("expected `date,currency,usd_per_unit`, got {header:?}"),
        ));
    }
    let mut out = Vec::new();
    for (n, line) in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 3 {
            return Err(err(format!("line {n}"), "expected 3 fields"));
        }
        let at = |e: FxError| err(format!("line {n}: {}", e.field), e.message);
        out.push(Rate {
            date: date(f[0]).map_err(at)?,
            currency: currency(f[1]).map_err(at)?,
            usd_per_unit: rate_value(f[2]).map_err(at)?,
            source,
        });
    }
    Ok(out)
}

/// The value of attribute `name` in one XML tag (either quote style).
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag;
    while let Some(i) = rest.find(name) {
        let before_ok = i == 0 || rest.as_bytes()[i - 1].is_ascii_whitespace();
        let after = rest[i + name.len()..].trim_start();
        if before_ok && let Some(v) = after.strip_prefix('=') {
            let v = v.trim_start();
            let q = v.chars().next()?;
            if q == '\'' || q == '"' {
                let end = v[1..].find(q)?;
                return Some(&v[1..1 + end]);
            }
        }
        rest = &rest[i + name.len()..];
    }
    None
}

/// Parses ECB's daily or historical `eurofxref` XML (`<Cube time=…><Cube currency=… rate=…/>`),
/// whose rates are units per EUR, into USD per unit: EUR = the USD rate, X = USD rate / X rate.
/// Days without a USD quote are skipped (no cross rate can be made).
pub fn parse_ecb_xml(xml: &str) -> Result<Vec<Rate>, FxError> {
    let mut out = Vec::new();
    let mut day: Option<(NaiveDate, Vec<(String, Decimal)>)> = None;
    let flush = |day: Option<(NaiveDate, Vec<(String, Decimal)>)>, out: &mut Vec<Rate>| {
        let Some((date, quotes)) = day else { return };
        let Some(usd) = quotes.iter().find(|(c, _)| c == "USD").map(|(_, r)| *r) else {
            return;
        };
        out.push(Rate {
            currency: "EUR".into(),
            date,
            usd_per_unit: usd.normalize(),
            source: Source::Ecb,
        });
        for (c, r) in quotes.into_iter().filter(|(c, _)| c != "USD") {
            out.push(Rate {
                currency: c,
                date,
                usd_per_unit: (usd / r)
                    .round_dp_with_strategy(RATE_PLACES, RoundingStrategy::MidpointNearestEven)
                    .normalize(),
                source: Source::Ecb,
            });
        }
        out.push(Rate {
            currency: "USD".into(),
            date,
            usd_per_unit: Decimal::ONE,
            source: Source::Ecb,
        });
    };
    let mut seen_cube = false;
    for piece in xml.split('<').skip(1) {
        let tag = piece.split('>').next().unwrap_or_default();
        if !tag.starts_with("Cube") {
            continue;
        }
        seen_cube = true;
        if let Some(t) = attr(tag, "time") {
            flush(day.take(), &mut out);
            day = Some((date(t)?, Vec::new()));
        } else if let (Some(c), Some(r)) = (attr(tag, "currency"), attr(tag, "rate")) {
            let Some((_, quotes)) = day.as_mut() else {
                return Err(err("Cube", "a rate outside a dated Cube"));
            };
            quotes.push((currency(c)?, rate_value(r)?));
        }
    }
    flush(day.take(), &mut out);
    if !seen_cube {
        return Err(err(
            "xml",
            "not an ECB eurofxref document (no <Cube> elements)",
        ));
    }
    Ok(out)
}

/// Parses a rate file, choosing the format by content: XML when it starts with `<`, else CSV.
pub fn parse_file(text: &str) -> Result<Vec<Rate>, FxError> {
    if text.trim_start().starts_with('<') {
        parse_ecb_xml(text)
    } else {
        parse_csv(text, Source::Csv)
    }
}

/// The bundled table.
pub fn bundled() -> Vec<Rate> {
    parse_csv(BUNDLED_CSV, Source::Bundled).expect("the bundled FX table parses")
}

/// How old a rate may be, before the date it converts, and still count as current.
pub const STALE_AFTER: chrono::Duration = chrono::Duration::days(7);

/// Whether a rate of `currency` dated `rate_date` is stale for a row of `row_date` (PRODUCT.md
/// §5.1 `fx_stale`: dated more than 7 days before the row's own date). USD per USD is 1 on
/// every date, so a USD row is never stale.
pub fn is_stale(currency: &str, rate_date: NaiveDate, row_date: NaiveDate) -> bool {
    currency != "USD" && row_date - rate_date > STALE_AFTER
}

/// The rate in force on `date`: the latest of `rates` (sorted by date) on or before it.
pub fn rate_on(
    rates: &[(NaiveDate, Decimal, String)],
    on: NaiveDate,
) -> Option<&(NaiveDate, Decimal, String)> {
    let i = rates.partition_point(|(d, _, _)| *d <= on);
    i.checked_sub(1).map(|i| &rates[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn usd_per_event_is_exact_and_rounds_half_even() {
        let per = |usd: &str, n: i64| usd_per(d(usd), n).map(|v| v.to_string());
        assert_eq!(per("10.000000", 4).as_deref(), Some("2.500000"));
        assert_eq!(per("10", 3).as_deref(), Some("3.333333"));
        assert_eq!(per("20.000000", 3).as_deref(), Some("6.666667"));
        // Ties: 0.000005 / 2 = 0.0000025 → 0.000002 (even); 0.000015 / 2 → 0.000008.
        assert_eq!(per("0.000005", 2).as_deref(), Some("0.000002"));
        assert_eq!(per("0.000015", 2).as_deref(), Some("0.000008"));
        assert_eq!(per("0.000000", 7).as_deref(), Some("0.000000"));
        // Large sums stay exact (no float): 92 233 720 368.547758 / 1.
        assert_eq!(
            per("92233720368.547758", 1).as_deref(),
            Some("92233720368.547758")
        );
        assert_eq!(per("1.000000", 0), None, "no events, no cost per event");
        assert_eq!(per("1.000000", -1), None);
    }

    #[test]
    fn a_rate_is_stale_when_dated_more_than_7_days_before_the_row() {
        let day = |s: &str| date(s).unwrap();
        assert!(!is_stale("JPY", day("2026-12-01"), day("2026-12-08")));
        assert!(is_stale("JPY", day("2026-12-01"), day("2026-12-09")));
        // The issue's case: December 2026 converted with the bundled rate of 2025-10-01.
        assert!(is_stale("KWD", day("2025-10-01"), day("2026-12-15")));
        assert!(!is_stale("KWD", day("2026-12-15"), day("2026-12-15")));
        // USD per USD is 1 whatever the date of the row that says so.
        assert!(!is_stale("USD", day("1999-01-04"), day("2026-12-15")));
    }

    #[test]
    fn spend_usd_is_half_even_to_six_places() {
        // 1 234 JPY at 0.0064123 USD/JPY = 7.9127782 → 7.912778.
        assert_eq!(
            spend_usd(1_234_000_000, d("0.0064123")).to_string(),
            "7.912778"
        );
        // 12.345 KWD at 3.2537 = 40.1669265: a tie at the 7th place goes to the even 6.
        assert_eq!(spend_usd(12_345_000, d("3.2537")).to_string(), "40.166926");
        // 12.347 KWD at 3.2537 = 40.1734339 → 40.173434.
        assert_eq!(spend_usd(12_347_000, d("3.2537")).to_string(), "40.173434");
        // A tie that rounds up to the even digit: 0.0000125 → 0.000012, 0.0000135 → 0.000014.
        assert_eq!(spend_usd(125, d("0.1")).to_string(), "0.000012");
        assert_eq!(spend_usd(135, d("0.1")).to_string(), "0.000014");
        assert_eq!(spend_usd(5_000_000, Decimal::ONE).to_string(), "5.000000");
        assert_eq!(spend_usd(0, d("1.1")).to_string(), "0.000000");
    }

    #[test]
    fn csv_round_trip_and_errors() {
        let rates = parse_csv(
            "# comment\ndate,currency,usd_per_unit\n2026-05-19,jpy,0.00641235\n\n2026-05-19,KWD,3.2537\n",
            Source::Csv,
        )
        .unwrap();
        assert_eq!(rates.len(), 2);
        assert_eq!(rates[0].currency, "JPY");
        assert_eq!(rates[0].usd_per_unit, d("0.00641235"));
        assert!(parse_csv("a,b,c\n", Source::Csv).is_err());
        let e = parse_csv(
            "date,currency,usd_per_unit\n2026-05-19,JPY,-1\n",
            Source::Csv,
        )
        .unwrap_err();
        assert_eq!(e.field, "line 2: usd_per_unit");
        assert!(
            parse_csv(
                "date,currency,usd_per_unit\n2026-13-01,JPY,1\n",
                Source::Csv
            )
            .is_err()
        );
        assert!(
            parse_csv(
                "date,currency,usd_per_unit\n2026-01-01,JP1,1\n",
                Source::Csv
            )
            .is_err()
        );
    }

    #[test]
    fn ecb_xml_becomes_usd_per_unit() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <Cube>
    <Cube time='2026-05-19'>
      <Cube currency='USD' rate='1.0800'/>
      <Cube currency='JPY' rate='160.00'/>
      <Cube currency="GBP" rate="0.8500"/>
    </Cube>
    <Cube time='2026-05-18'>
      <Cube currency='JPY' rate='161.00'/>
    </Cube>
  </Cube>
</gesmes:Envelope>"#;
        let rates = parse_ecb_xml(xml).unwrap();
        let get = |c: &str| {
            rates
                .iter()
                .find(|r| r.currency == c)
                .map(|r| (r.date.to_string(), r.usd_per_unit.to_string()))
        };
        assert_eq!(get("EUR"), Some(("2026-05-19".into(), "1.08".into())));
        // 1.08 / 160 = 0.00675 exactly.
        assert_eq!(get("JPY"), Some(("2026-05-19".into(), "0.00675".into())));
        // 1.08 / 0.85 = 1.270588235294… → 10 places.
        assert_eq!(
            get("GBP"),
            Some(("2026-05-19".into(), "1.2705882353".into()))
        );
        assert_eq!(get("USD"), Some(("2026-05-19".into(), "1".into())));
        // The 18th has no USD quote, so nothing for it.
        assert!(rates.iter().all(|r| r.date.to_string() == "2026-05-19"));
        assert_eq!(rates.iter().filter(|r| r.source == Source::Ecb).count(), 4);
        assert!(parse_ecb_xml("<html></html>").is_err());
        assert!(
            parse_file("date,currency,usd_per_unit\n")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bundled_table_covers_the_required_currencies() {
        let rates = bundled();
        for c in [
            "USD", "EUR", "GBP", "JPY", "KWD", "CAD", "AUD", "BRL", "INR", "MXN",
        ] {
            assert!(rates.iter().any(|r| r.currency == c), "{c}");
        }
        assert!(rates.iter().all(|r| r.source == Source::Bundled));
    }

    #[test]
    fn rate_on_takes_the_latest_on_or_before() {
        let day = |s: &str| date(s).unwrap();
        let rates = vec![
            (day("2026-05-01"), d("1"), "csv".to_string()),
            (day("2026-05-10"), d("2"), "csv".to_string()),
        ];
        assert_eq!(rate_on(&rates, day("2026-04-30")), None);
        assert_eq!(rate_on(&rates, day("2026-05-01")).unwrap().1, d("1"));
        assert_eq!(rate_on(&rates, day("2026-05-09")).unwrap().1, d("1"));
        assert_eq!(rate_on(&rates, day("2026-05-10")).unwrap().1, d("2"));
        assert_eq!(rate_on(&rates, day("2027-01-01")).unwrap().1, d("2"));
    }
}
