//! Pieces shared by the wire types.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// X's `entity_status` (`ACTIVE`, `PAUSED`, `DRAFT`); unknown values are kept, not rejected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntityStatus {
    /// `ACTIVE`
    Active,
    /// `PAUSED`
    Paused,
    /// `DRAFT`
    Draft,
    /// Anything else X may send (e.g. a status added later).
    Other(String),
}

impl EntityStatus {
    /// The statuses X documents, in its order (`Other` holds any other).
    pub const ALL: &'static [EntityStatus] = &[
        EntityStatus::Active,
        EntityStatus::Paused,
        EntityStatus::Draft,
    ];

    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            EntityStatus::Active => "ACTIVE",
            EntityStatus::Paused => "PAUSED",
            EntityStatus::Draft => "DRAFT",
            EntityStatus::Other(s) => s,
        }
    }

    /// Our API's `paused` flag on the wire: `true` → `PAUSED`, `false` → `ACTIVE`.
    pub fn from_paused(paused: bool) -> Self {
        if paused {
            EntityStatus::Paused
        } else {
            EntityStatus::Active
        }
    }

    /// Whether the entity is paused (drafts and unknown states are not "paused").
    pub fn is_paused(&self) -> bool {
        *self == EntityStatus::Paused
    }

    /// Parses the wire form (case-sensitive, as X sends it).
    pub fn parse(s: &str) -> Self {
        match s {
            "ACTIVE" => EntityStatus::Active,
            "PAUSED" => EntityStatus::Paused,
            "DRAFT" => EntityStatus::Draft,
            other => EntityStatus::Other(other.to_owned()),
        }
    }
}

/// Strict parsing (for input): only the statuses X documents.
impl std::str::FromStr for EntityStatus {
    type Err = crate::vocab::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match EntityStatus::parse(s) {
            EntityStatus::Other(value) => Err(crate::vocab::UnknownValue {
                vocabulary: "entity_status",
                value,
                allowed: "ACTIVE, PAUSED, DRAFT".into(),
            }),
            known => Ok(known),
        }
    }
}

impl AsRef<str> for EntityStatus {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for EntityStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EntityStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EntityStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(EntityStatus::parse(&String::deserialize(d)?))
    }
}

/// An id that X should send as a string but may send as a number (seen in echoes).
pub(crate) fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, got {other}"
        ))),
    }
}

/// An optional id that may come as a string or a number (Tweet/user ids in older data).
pub(crate) fn lenient_opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected an id, got {other}"
        ))),
    }
}

/// An optional integer that may come as a number or a numeric string.
pub(crate) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not an integer"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer"))),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_status_round_trips_and_keeps_unknowns() {
        for (wire, status) in [
            ("ACTIVE", EntityStatus::Active),
            ("PAUSED", EntityStatus::Paused),
            ("DRAFT", EntityStatus::Draft),
            ("ARCHIVED", EntityStatus::Other("ARCHIVED".into())),
        ] {
            let parsed: EntityStatus = serde_json::from_str(&format!("\"{wire}\"")).unwrap();
            assert_eq!(parsed, status);
            assert_eq!(
                serde_json::to_string(&parsed).unwrap(),
                format!("\"{wire}\"")
            );
        }
    }

    #[test]
    fn strict_parsing_knows_only_documented_statuses() {
        for s in EntityStatus::ALL {
            assert_eq!(s.as_str().parse::<EntityStatus>().as_ref(), Ok(s));
        }
        let err = "ARCHIVED".parse::<EntityStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"ARCHIVED\" is not one of ACTIVE, PAUSED, DRAFT"
        );
    }

    #[test]
    fn paused_flag_translation() {
        assert_eq!(EntityStatus::from_paused(true).as_str(), "PAUSED");
        assert_eq!(EntityStatus::from_paused(false).as_str(), "ACTIVE");
        assert!(EntityStatus::Paused.is_paused());
        assert!(!EntityStatus::Draft.is_paused());
    }
}
