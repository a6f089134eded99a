//! Money as people read it (issue 19, item 4): an amount in micros shown in its currency's own
//! units — ISO 4217 minor units (JPY 0, USD 2, KWD 3, …) — with its symbol or code.
//!
//! Amounts stay `i64` micros everywhere else; this module only turns them into text, exactly
//! (`rust_decimal`, half-even), never through a float.

use rust_decimal::{Decimal, RoundingStrategy};

/// Currencies whose minor unit is not the cent (ISO 4217 list one, "minor unit" column); every
/// other code has 2.
const MINOR_UNITS: &[(&str, u32)] = &[
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
    ("CLF", 4),
    ("UYW", 4),
];

/// Symbols shown before an amount, for currencies whose symbol is not shared with another
/// currency a reader could mean; every other currency is written with its code after the amount.
const SYMBOLS: &[(&str, &str)] = &[
    ("USD", "$"),
    ("EUR", "€"),
    ("GBP", "£"),
    ("JPY", "¥"),
    ("INR", "₹"),
    ("KRW", "₩"),
    ("ILS", "₪"),
    ("NGN", "₦"),
    ("UAH", "₴"),
    ("VND", "₫"),
];

/// The number of decimal places of `currency`'s minor unit (2 when unknown).
pub fn minor_units(currency: &str) -> u32 {
    let c = currency.trim().to_ascii_uppercase();
    MINOR_UNITS
        .iter()
        .find(|(code, _)| *code == c)
        .map_or(2, |(_, n)| *n)
}

/// `micros` as a decimal in `currency`'s minor units, half-even (`300000`, `600.500`, `3.00`).
pub fn decimal(micros: i64, currency: &str) -> Decimal {
    let places = minor_units(currency);
    let mut d = Decimal::from_i128_with_scale(i128::from(micros), 6)
        .round_dp_with_strategy(places, RoundingStrategy::MidpointNearestEven);
    d.rescale(places);
    d
}

/// A decimal amount (any scale) rounded to `currency`'s minor units, half-even.
pub fn round(amount: Decimal, currency: &str) -> Decimal {
    let places = minor_units(currency);
    let mut d = amount.round_dp_with_strategy(places, RoundingStrategy::MidpointNearestEven);
    d.rescale(places);
    d
}

/// `micros` as plain decimal text in the currency's minor units, no grouping (CSV).
pub fn plain(micros: i64, currency: &str) -> String {
    decimal(micros, currency).to_string()
}

/// A decimal with thousands separators (`300,000`, `1,234.500`, `-0.50`).
pub fn grouped(d: Decimal) -> String {
    let text = d.abs().to_string();
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text.as_str(), None),
    };
    let mut out = String::new();
    if d.is_sign_negative() && !d.is_zero() {
        out.push('-');
    }
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// An amount with its currency: the symbol before it where one is unambiguous (`$3.00`,
/// `¥300,000`), else the code after it (`600.500 KWD`).
pub fn with_currency(amount: Decimal, currency: &str) -> String {
    let c = currency.trim().to_ascii_uppercase();
    let text = grouped(round(amount, &c));
    match SYMBOLS.iter().find(|(code, _)| *code == c) {
        Some((_, sym)) => match text.strip_prefix('-') {
            Some(rest) => format!("-{sym}{rest}"),
            None => format!("{sym}{text}"),
        },
        None if c.is_empty() => text,
        None => format!("{text} {c}"),
    }
}

/// `micros` of `currency` as people read it (see [`with_currency`]).
pub fn format(micros: i64, currency: &str) -> String {
    with_currency(
        Decimal::from_i128_with_scale(i128::from(micros), 6),
        currency,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_currency_in_its_own_minor_units() {
        // The cases: yen has no minor unit, the dinar three, the dollar two.
        assert_eq!(format(300_000_000_000, "JPY"), "¥300,000");
        assert_eq!(format(600_500_000, "KWD"), "600.500 KWD");
        assert_eq!(format(3_000_000, "USD"), "$3.00");
        assert_eq!(format(5_000_000_000, "KWD"), "5,000.000 KWD");
        assert_eq!(format(1_234_567_890, "EUR"), "€1,234.57");
        assert_eq!(format(-500_000, "usd"), "-$0.50");
        // Half-even: 12.345 → 12.34, 12.355 → 12.36.
        assert_eq!(format(12_345_000, "CHF"), "12.34 CHF");
        assert_eq!(format(12_355_000, "CHF"), "12.36 CHF");
        // Rounding is half-even at the minor unit: 0.5 yen → 0, 1.5 yen → 2.
        assert_eq!(format(500_000, "JPY"), "¥0");
        assert_eq!(format(1_500_000, "JPY"), "¥2");
        assert_eq!(plain(600_500_000, "KWD"), "600.500");
        assert_eq!(plain(300_000_000_000, "JPY"), "300000");
        assert_eq!(plain(3_000_000, "USD"), "3.00");
        assert_eq!(minor_units("XXX"), 2);
        assert_eq!(grouped(Decimal::new(-123_456_789, 3)), "-123,456.789");
    }
}
