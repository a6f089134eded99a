//! Ids and money as they cross the edge: parsed once, then carried as types that cannot hold
//! anything else. X's ids are short base-36 strings (`18ce54d4x5t`, `8wku2`), so a value with a
//! NUL or control byte, a slash or 300 characters is refused at parsing, never sent to X or a
//! database. Money is [`Micros`]: i64 micro-units of a currency, with checked arithmetic.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that is not an id of the kind asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}")]
pub struct InvalidId {
    /// What was expected (`ad account id`, `entity id`).
    pub kind: &'static str,
    /// The value, cut to 40 characters.
    pub value: String,
}

fn invalid(kind: &'static str, value: &str) -> InvalidId {
    InvalidId {
        kind,
        value: value.chars().take(40).collect(),
    }
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses an id; anything that cannot be one is an [`InvalidId`].
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                let check: fn(&str) -> bool = $check;
                if check(value) {
                    Ok($name(value.to_owned()))
                } else {
                    Err(invalid($kind, value))
                }
            }

            /// The id.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                $name::parse(s)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// X's ad account id: 1 to 64 ASCII letters and digits (base-36 in practice, `18ce54d4x5t`).
    AdAccountId,
    "ad account id",
    |s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
);

id_type!(
    /// The id of an entity X made (campaign, line item, promoted tweet, funding instrument):
    /// 1 to 32 lower-case base-36 characters (`8wku2`).
    EntityId,
    "entity id",
    |s| {
        !s.is_empty()
            && s.len() <= 32
            && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    }
);

/// Money: micro-units (10⁻⁶) of a currency, as X's `*_local_micro` fields carry it. Arithmetic
/// is checked: an overflow is `None`, never a wrapped amount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Micros(i64);

impl Micros {
    /// Zero.
    pub const ZERO: Micros = Micros(0);

    /// An amount in micros.
    pub const fn new(micros: i64) -> Self {
        Micros(micros)
    }

    /// A positive amount (budgets, bids), or `None`.
    pub const fn positive(micros: i64) -> Option<Self> {
        if micros > 0 {
            Some(Micros(micros))
        } else {
            None
        }
    }

    /// The micros.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Micros) -> Option<Micros> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Micros(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` on overflow.
    pub const fn checked_sub(self, other: Micros) -> Option<Micros> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Micros(v)),
            None => None,
        }
    }

    /// `self × n`, or `None` on overflow.
    pub const fn checked_mul(self, n: i64) -> Option<Micros> {
        match self.0.checked_mul(n) {
            Some(v) => Some(Micros(v)),
            None => None,
        }
    }

    /// The sum of `amounts`, or `None` on overflow.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Micros>) -> Option<Micros> {
        amounts
            .into_iter()
            .try_fold(Micros::ZERO, Micros::checked_add)
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Micros> for i64 {
    fn from(m: Micros) -> i64 {
        m.0
    }
}

impl Serialize for Micros {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i64::deserialize(d).map(Micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_what_x_never_makes() {
        for ok in ["18ce54d4x5t", "gq1844", "A1"] {
            assert_eq!(AdAccountId::parse(ok).unwrap().as_str(), ok);
        }
        for ok in ["8wku2", "0", &"z".repeat(32)] {
            assert_eq!(&*EntityId::parse(ok).unwrap(), ok);
        }
        let long = "x".repeat(300);
        for bad in [
            "", "\0", "ab\0c", "a\u{1}", "a\u{7f}", "a b", "../x", "a/b", "-1", "é", &long,
        ] {
            assert!(AdAccountId::parse(bad).is_err(), "{bad:?}");
            assert!(EntityId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            EntityId::parse("8WKU2").is_err(),
            "X's entity ids are lower case"
        );
        assert!(EntityId::parse(&"z".repeat(33)).is_err());
        let err = AdAccountId::parse(&long).unwrap_err();
        assert_eq!(err.value.len(), 40);
        assert_eq!(
            serde_json::from_str::<AdAccountId>("\"18ce54d4x5t\"").unwrap(),
            AdAccountId::parse("18ce54d4x5t").unwrap()
        );
        assert!(serde_json::from_str::<AdAccountId>("\"a\\u0000\"").is_err());
        assert_eq!(
            serde_json::to_string(&EntityId::parse("8wku2").unwrap()).unwrap(),
            "\"8wku2\""
        );
    }

    #[test]
    fn micros_arithmetic_is_checked() {
        let a = Micros::new(1_500_000);
        assert_eq!(
            a.checked_add(Micros::new(500_000)),
            Some(Micros::new(2_000_000))
        );
        assert_eq!(Micros::new(i64::MAX).checked_add(Micros::new(1)), None);
        assert_eq!(Micros::new(i64::MIN).checked_sub(Micros::new(1)), None);
        assert_eq!(a.checked_mul(3), Some(Micros::new(4_500_000)));
        assert_eq!(Micros::new(i64::MAX / 2 + 1).checked_mul(2), None);
        assert_eq!(Micros::checked_sum([a, a, a]), Some(Micros::new(4_500_000)));
        assert_eq!(Micros::checked_sum([Micros::new(i64::MAX), a]), None);
        assert_eq!(Micros::positive(0), None);
        assert_eq!(Micros::positive(1).map(Micros::get), Some(1));
        assert_eq!(serde_json::to_string(&a).unwrap(), "1500000");
        assert_eq!(serde_json::from_str::<Micros>("1500000").unwrap(), a);
        assert!(serde_json::from_str::<Micros>("1e30").is_err());
    }
}
