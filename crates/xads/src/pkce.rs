//! PKCE (RFC 7636) and the OAuth `state`: random values, S256 challenges, the authorize URL.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use url::Url;

use xads_client::Secret;

/// A fresh PKCE pair: the verifier stays server-side, the challenge goes on the authorize URL.
#[derive(Debug)]
pub struct Pkce {
    /// 32 random bytes, base64url without padding (43 characters of `[A-Za-z0-9-_]`).
    pub verifier: Secret,
    /// `base64url(sha256(verifier))`.
    pub challenge: String,
}

impl Pkce {
    /// Generates a verifier from 32 bytes of OS randomness and its S256 challenge.
    pub fn generate() -> Pkce {
        let verifier = random_token();
        let challenge = s256_challenge(&verifier);
        Pkce {
            verifier: Secret::new(verifier),
            challenge,
        }
    }
}

/// The S256 code challenge of a verifier.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// 32 random bytes as base64url (for verifiers and `state`).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 hex, the form in which `state` values are stored and looked up.
pub fn hash_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The URL the browser is sent to for approval (PRODUCT.md §4.1 step 2).
pub fn authorize_url(
    base: &Url,
    client_id: &str,
    redirect_uri: &Url,
    scopes: &str,
    state: &str,
    challenge: &str,
) -> Url {
    let mut url = base.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("scope", scopes)
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn ten_thousand_verifiers_are_well_formed_and_distinct() {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let p = Pkce::generate();
            let v = p.verifier.expose();
            assert!((43..=128).contains(&v.len()), "{}", v.len());
            assert!(v.chars().all(allowed), "bad character in verifier");
            assert_eq!(p.challenge, s256_challenge(v));
            assert!(seen.insert(v.to_owned()), "duplicate verifier");
        }
    }

    #[test]
    fn authorize_url_carries_every_parameter() {
        let url = authorize_url(
            &Url::parse("https://x.com/i/oauth2/authorize").unwrap(),
            "cid",
            &Url::parse("http://127.0.0.1:8080/oauth/x_ads/callback").unwrap(),
            "ads.read ads.write offline.access",
            "st",
            "ch",
        );
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("cid"));
        assert_eq!(
            get("redirect_uri"),
            Some("http://127.0.0.1:8080/oauth/x_ads/callback")
        );
        assert_eq!(get("scope"), Some("ads.read ads.write offline.access"));
        assert_eq!(get("state"), Some("st"));
        assert_eq!(get("code_challenge"), Some("ch"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert!(
            url.as_str()
                .contains("scope=ads.read+ads.write+offline.access")
        );
    }
}
