//! Path ids, parsed once at the edge of `/api/v1`. The ad account of
//! `/api/v1/x_ads/accounts/{account_id}/…` must be X's id ([`AdAccountId`]); an entity id one of
//! X's ([`EntityId`]) or our dry-run ones (`dry_…`); an experiment or sync id one of ours
//! (`exp_…`, `syn_…`). A segment that cannot be such an id — a NUL or control byte, a slash,
//! 300 characters, bytes that are not UTF-8 — is answered like an unknown id: 404 `not_found`
//! with the error envelope, before anything is read from a database or sent to X.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use xads_client::ids::{AdAccountId, EntityId};

use super::error::ApiError;

/// The ids of an `/api/v1` path, percent-decoded and still raw; each handler parses them by
/// their kind ([`PathIds::account`], [`entity_id`], [`local_id`]) in the order it has always
/// checked them, so an unknown account still answers "ad account not found" first.
#[derive(Debug)]
pub struct PathIds(Vec<(String, String)>);

impl PathIds {
    /// A raw path id (`id`, `sync_id`, `action`); empty when absent.
    pub fn raw(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The ad account: X's id, or 404 "ad account not found" as for an unknown one.
    pub fn account(&self) -> Result<AdAccountId, ApiError> {
        account(self.raw("account_id"))
    }
}

/// An ad account id: X's, or 404 "ad account not found" as for an unknown one (the UI's pages
/// take theirs from their own paths and check them here too).
pub fn account(raw: &str) -> Result<AdAccountId, ApiError> {
    AdAccountId::parse(raw).map_err(|_| ApiError::not_found("ad account"))
}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // A segment that is not UTF-8 once decoded cannot be any of our ids.
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("resource"))?;
        Ok(PathIds(
            params
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ))
    }
}

/// An entity id of our API: X's (`8wku2`) or one of our dry-run ids (`dry_` + 1–40 letters,
/// digits or `_`), which X's base-36 ids can never look like.
pub fn entity_id(raw: &str) -> Option<&str> {
    let dry = raw.strip_prefix("dry_").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 40
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    (dry || EntityId::parse(raw).is_ok()).then_some(raw)
}

/// A media key of our API: X's (`<type prefix>_<media id>`, `3_931236738554519552`) or one of
/// our dry-run ones (as [`entity_id`]).
pub fn media_key(raw: &str) -> Option<&str> {
    let x = raw.split_once('_').is_some_and(|(prefix, id)| {
        (1..=4).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_digit())
            && (1..=32).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_digit())
    });
    (x || (raw.starts_with("dry_") && entity_id(raw).is_some())).then_some(raw)
}

/// One of our own ids (`exp_…`, `syn_…`: a lower-case prefix, `_`, hex digits).
pub fn local_id(raw: &str) -> Option<&str> {
    let (prefix, hex) = raw.split_once('_')?;
    let ok = (1..=16).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_lowercase())
        && (1..=32).contains(&hex.len())
        && hex.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_each_kind() {
        for ok in ["8wku2", "dry_0123456789abcdef", "dry_a_b"] {
            assert_eq!(entity_id(ok), Some(ok));
        }
        for ok in ["exp_0123456789abcdef0123", "syn_00ff"] {
            assert_eq!(local_id(ok), Some(ok));
        }
        let long = "x".repeat(300);
        for bad in [
            "", "\0", "8wku2\0", "a\u{1}b", "\u{7f}", "-1", "../x", "' ; DROP", &long,
        ] {
            assert_eq!(entity_id(bad), None, "{bad:?}");
            assert_eq!(local_id(bad), None, "{bad:?}");
        }
        assert_eq!(local_id("exp_"), None);
        assert_eq!(local_id("EXP_00"), None);
        assert_eq!(entity_id("dry_"), None);
    }
}
